"""lightning-imc: hardware-aware neural architecture search on compute-in-memory crossbars.

    python train.py                          # the default: one RLS child on the embedded digits
    python train.py +experiment=quickstart   # see conf/experiment/ for the paper's setups
    python train.py candidate=random seed=3 trainer.max_epochs=5 logger=none
    python train.py mode=search search.mode=ptbnas controller=evolution   # a search (resumable)

Every error is one line on stderr, no traceback (``LIGHTNING_IMC_DEBUG=1`` shows it). Exit status:
0 done; 1 runtime failure (full disk, read-only storage, output folder in use, unexpected error);
2 configuration or input error (a bad setting or override, missing data, a damaged or different
search's history) — reported before any data is loaded; 130 / 143 interrupted by SIGINT / SIGTERM,
with what was saved (the same command resumes a search).
"""

import os
import signal
import sys


def _stop_early(signum, frame):  # until the job's own handlers are in place: nothing to save yet
    name = signal.Signals(signum).name
    os.write(2, f"interrupted by {name} before anything was saved; run the same command to start again\n".encode())
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _stop_early)
signal.signal(signal.SIGINT, _stop_early)

import hydra  # noqa: E402 - after the handlers: importing takes seconds
from omegaconf import DictConfig  # noqa: E402

DEBUG_ENV = "LIGHTNING_IMC_DEBUG"


class _HeldStderr:
    """``sys.stderr`` that holds what Hydra writes before the job starts (to drop its tracebacks), then passes through."""

    def __init__(self, stream):
        self.stream, self.held, self.holding = stream, [], True

    def write(self, text):
        if self.holding:
            self.held.append(text)
            return len(text)
        return self.stream.write(text)

    def release(self):
        self.holding = False
        self.stream.write("".join(self.held))
        self.held.clear()

    def __getattr__(self, name):
        return getattr(self.stream, name)


_STDERR = _HeldStderr(sys.stderr)


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    _STDERR.release()
    from lightning_imc.app import run_cli

    status = run_cli(cfg)
    if status:  # success returns, so that a Hydra multirun (-m) goes on to its next job
        sys.exit(status)


def _without_traceback(text: str) -> str:
    """Hydra's message before the job started, with any traceback cut down to its last line."""
    lines = [line for line in text.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        return f"error before the job started: {lines[-1].strip()}"
    return "\n".join(lines)


def _nearest_key(text: str):
    """For an override of a key that does not exist (``optimiser=sgd``): one line naming the nearest real group or
    key, instead of Hydra's advice to add it with ``+``; ``None`` for any other error."""
    from lightning_imc.overrides import explain_override_error

    return explain_override_error(text, sys.argv[1:], os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf"))


def cli() -> None:
    """``main`` with Hydra's own errors (an unknown config group, a bad override, an output folder it cannot
    create) reported without a traceback, exit status 2."""
    sys.stderr = _STDERR
    try:
        main()
    except SystemExit as exit_:
        if _STDERR.holding and exit_.code not in (0, None):
            text = "".join(_STDERR.held)
            _STDERR.held.clear()
            _STDERR.holding = False
            debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
            print(text.rstrip() if debug else (_nearest_key(text) or _without_traceback(text)), file=sys.stderr)
            sys.exit(2)
        raise
    finally:
        if _STDERR.holding:
            _STDERR.release()


if __name__ == "__main__":
    cli()
