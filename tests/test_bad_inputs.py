"""Bad input never shows a traceback and never gives a silently wrong result.

* The corpus: more than 40 bad command lines run through the real ``train.py`` (Hydra parsing, our
  checks, the one error path). Each must exit non-zero (2: configuration/input, 1: runtime), print no
  traceback, name the key or file, and stop before any data is loaded or any Trainer is built.
  To keep this cheap, one driver process imports everything once and forks a fresh process per case
  that runs ``train.py`` as ``__main__`` with its own argv, stdout and stderr (exit status and output
  are those of the command line); :func:`test_fork_driver_matches_a_real_process` checks that a real
  ``python train.py`` gives the same result.
* Library misuse: the documented exception, with a message naming the argument; NaN inputs and
  weights of an IMC layer propagate as NaN; ±inf saturate where the range is fixed (as a DAC would) and
  read as NaN where the range would be measured from the inf itself.
* A failure caused by an input the user can fix (rNAS's saved weights) is never stored in the history:
  once the right file is in place, the same command evaluates the candidates.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "train.py")
TRACEBACK = "Traceback (most recent call last)"
TRAINER_BANNER = "GPU available:"  # what building a Lightning Trainer prints

_DRIVER = r"""
import json, os, runpy, sys, time, traceback
sys.path.insert(0, {root!r})
os.environ.pop("HYDRA_FULL_ERROR", None)
os.environ.pop("LIGHTNING_IMC_DEBUG", None)
import torch
torch.set_num_threads(1)
import hydra, pytorch_lightning, lightning_imc.app, lightning_imc.search.loop  # imported once, before forking


def start(case):
    stdout, stderr = case["out"] + ".stdout", case["out"] + ".stderr"
    pid = os.fork()
    if pid:
        return pid
    for fd, name in ((1, stdout), (2, stderr)):
        os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.chdir(case["cwd"])
    os.environ.update(case.get("env", {{}}))
    sys.argv = [{train!r}, *case["args"]]
    try:
        runpy.run_path({train!r}, run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()  # what Python prints for an uncaught exception
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


cases = json.load(sys.stdin)
waiting, running, results = list(cases), {{}}, {{}}
while waiting or running:
    while waiting and len(running) < {parallel}:
        case = waiting.pop(0)
        running[start(case)] = (case, time.time())
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid == 0:
        for pid, (case, started) in list(running.items()):
            if time.time() - started > 240:
                os.kill(pid, 9)
        time.sleep(0.02)
        continue
    case, started = running.pop(pid)
    code = os.waitstatus_to_exitcode(status)
    results[case["id"]] = {{"seconds": time.time() - started, "rc": code,
                            "stdout": open(case["out"] + ".stdout").read(),
                            "stderr": open(case["out"] + ".stderr").read()}}
print("RESULTS" + json.dumps(results))
"""


def run_cases(cases: list[dict]) -> dict[str, dict]:
    """Run ``train.py`` once per case (``id``, ``args``, ``out``, ``cwd``) in forked copies of one warm driver."""
    driver = _DRIVER.format(root=str(ROOT), train=TRAIN, parallel=2)  # two cases at a time (2 cores)
    env = dict(os.environ, PYTHONHASHSEED="0", WANDB_MODE="offline")
    done = subprocess.run([sys.executable, "-c", driver], input=json.dumps(cases), capture_output=True, text=True,
                          env=env, timeout=1500, cwd=str(ROOT))
    marker = [line for line in done.stdout.splitlines() if line.startswith("RESULTS")]
    assert marker, f"driver failed: {done.stderr[-3000:]}"
    return json.loads(marker[-1][len("RESULTS"):])


def _cuda_device_absent_here() -> str:
    """A CUDA device this machine does not have: ``cuda`` without a GPU, else one past the last GPU."""
    import torch

    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def _gpu_here() -> bool:
    import torch

    return torch.cuda.is_available()


FAST = ["logger=none", "trainer.enable_progress_bar=false"]
SEARCH = ["mode=search", "search.mode=ptbnas", "search.episodes=2", "search.batch_size=2", "trainer.max_epochs=1",
          "callbacks.variation_eval.n_chips=2", "reward.bound_samples=4", "executor.threads_per_child=1", *FAST]

# (id, overrides, exit status, text the error must contain). "{out}" is the case's output folder.
CORPUS: list[tuple[str, list[str], int, str]] = [
    # trainer: types and ranges (-1/0 epochs used to skip training silently)
    ("max_epochs=-1", ["trainer.max_epochs=-1"], 2, "trainer.max_epochs=-1; must be an integer >= 1"),
    ("max_epochs=0", ["trainer.max_epochs=0"], 2, "trainer.max_epochs=0"),
    ("max_epochs=abc", ["trainer.max_epochs=abc"], 2, "trainer.max_epochs='abc'"),
    ("max_epochs=1.5", ["trainer.max_epochs=1.5"], 2, "trainer.max_epochs=1.5"),
    ("max_epochs=empty", ["trainer.max_epochs="], 2, "trainer.max_epochs"),
    ("max_steps=0", ["+trainer.max_steps=0"], 2, "trainer.max_steps=0"),
    ("precision=banana", ["trainer.precision=banana"], 2, "trainer.precision='banana'"),
    ("accelerator=quantum", ["trainer.accelerator=quantum"], 2, "trainer.accelerator='quantum'"),
    ("limit_train_batches=0", ["+trainer.limit_train_batches=0"], 2, "trainer.limit_train_batches=0"),
    ("trainer.unknown", ["+trainer.not_an_argument=1"], 2, "trainer.not_an_argument is not a Trainer argument"),
    ("trainer.no_plus", ["trainer.not_an_argument=1"], 2, "trainer.not_an_argument"),
    # optimizer: finite and > 0 (nan used to be found after data loading, inf never)
    ("lr=nan", ["optimizer.lr=nan"], 2, "optimizer.lr=nan; must be a finite number"),
    ("lr=inf", ["optimizer.lr=inf"], 2, "optimizer.lr=inf"),
    ("lr=-1", ["optimizer.lr=-1"], 2, "optimizer.lr=-1"),
    ("lr=0", ["optimizer.lr=0"], 2, "optimizer.lr=0"),
    ("lr=abc", ["optimizer.lr=abc"], 2, "optimizer.lr='abc'"),
    ("optimizer.name", ["optimizer.name=rmsprop"], 2, "optimizer.name='rmsprop'"),
    ("weight_decay<0", ["optimizer.weight_decay=-0.1"], 2, "optimizer.weight_decay=-0.1"),
    # data-module arguments keep their own reason (was: "Error in call to target ...")
    ("batch_size=0", ["data.batch_size=0"], 2, "data.batch_size must be an integer >= 1, got 0"),
    ("batch_size=abc", ["data.batch_size=abc"], 2, "data.batch_size"),
    ("val_fraction=1.5", ["data.val_fraction=1.5"], 2, "data.val_fraction must lie in (0, 1), got 1.5"),
    ("image_size=2", ["data.image_size=2"], 2, "data.image_size must be an integer >= 8, got 2"),
    ("resize=cubic", ["data.resize=cubic"], 2, "data.resize"),
    ("test_fraction=0", ["data.test_fraction=0"], 2, "data.test_fraction"),
    ("data.unknown", ["+data.no_such_argument=1"], 2, "no_such_argument"),
    ("normalize=abc", ["data.normalize=abc"], 2, "data.normalize must be true or false, got 'abc'"),
    ("data.device", ["data.device=banana"], 2, "data.device must be null or a torch device"),
    ("max_train_samples=-1", ["data.max_train_samples=-1"], 2, "data.max_train_samples"),
    ("data=imagenet", ["data=imagenet"], 2, "data/imagenet"),
    ("rls without CIFAR-10", ["+experiment=rls", "data.root={out}/nowhere"], 2, "cifar-10-batches-py"),
    # other settings
    ("adc_bits=99", ["imc.adc_bits=99"], 2, "imc.adc_bits=99"),
    ("variation=sometimes", ["imc.variation=sometimes"], 2, "imc.variation='sometimes'"),
    ("imc.unknown", ["+imc.sigma=0.3"], 2, "imc.sigma is not a known key"),
    ("hardware.preset", ["hardware.preset=isaac"], 2, "hardware.preset='isaac'"),
    ("chip.adc_bits=40", ["+hardware.chip.adc_bits=40"], 2, "hardware.chip.adc_bits=40"),
    ("reward.alpha=2", ["reward.alpha=2"], 2, "reward.alpha=2"),
    ("reward.alpha=abc", ["reward.alpha=abc"], 2, "reward.alpha='abc'"),
    ("bound_samples=1", ["reward.bound_samples=1"], 2, "reward.bound_samples=1"),
    ("failed_reward=nan", ["reward.failed_reward=nan"], 2, "reward.failed_reward=nan"),
    ("mode", ["mode=search_everything"], 2, "mode='search_everything'"),
    ("candidate=best", ["candidate=best"], 2, "candidate='best'"),
    ("n_chips=0", ["callbacks.variation_eval.n_chips=0"], 2, "callbacks.variation_eval.n_chips=0"),
    ("split=train", ["callbacks.variation_eval.split=train"], 2, "callbacks.variation_eval.split='train'"),
    ("logger.mode", ["logger.mode=cloud"], 2, "logger.mode='cloud'"),
    ("seed=-1", ["seed=-1"], 2, "seed=-1"),
    ("seed=abc", ["seed=abc"], 2, "seed='abc'"),
    ("experiment=nope", ["+experiment=nope"], 2, "experiment/nope"),
    ("override syntax", ["trainer.max_epochs=[1,"], 2, "input '[1,'"),
    # search settings
    ("search.mode", [*SEARCH, "search.mode=darts"], 2, "search.mode='darts'"),
    ("episodes=0", [*SEARCH, "search.episodes=0"], 2, "search.episodes=0"),
    ("batch_size=-3", [*SEARCH, "search.batch_size=-3"], 2, "search.batch_size=-3"),
    ("train_epochs=0", [*SEARCH, "search.train_epochs=0"], 2, "search.train_epochs=0"),
    ("chance_margin=2", [*SEARCH, "search.chance_margin=2"], 2, "search.chance_margin=2"),
    ("rnas without weights", [*SEARCH, "search.mode=rnas"], 2, "search.rnas_checkpoint=None"),
    ("rnas missing weights", [*SEARCH, "search.mode=rnas", "search.rnas_checkpoint={out}/missing.pt"], 2,
     "missing.pt"),
    ("executor.kind", [*SEARCH, "executor.kind=slurm"], 2, "executor.kind='slurm'"),
    ("threads_per_child=0", [*SEARCH, "executor.threads_per_child=0"], 2, "executor.threads_per_child=0"),
    ("controller.name", [*SEARCH, "controller.name=bayes"], 2, "controller.name='bayes'"),
    # output folder and history (prepared by the fixture below; the file is never touched)
    ("output path too long", ["paths.output_dir={out}/" + "/".join(["d" * 100] * 6)], 2, "paths.output_dir is"),
    ("output name too long", ["paths.output_dir={out}/" + "n" * 300], 2, "paths.output_dir has a folder name"),
    ("output under a file", ["paths.output_dir={out}/a_file/out"], 2, "a_file"),
    ("history random bytes", [*SEARCH], 2, "not a SQLite database"),
    ("history empty", [*SEARCH], 2, "empty file"),
    ("history foreign SQLite", [*SEARCH], 2, "another application"),
    ("history newer schema", [*SEARCH], 2, "newer than this lightning-imc"),
    ("history other search", [*SEARCH], 2, "belongs to a different search"),
    ("history other threads", [*SEARCH, "executor.threads_per_child=2"], 2, "resume with executor.threads_per_child=1"),
    ("resume=false", [*SEARCH, "search.resume=false"], 2, "search.resume=false"),
    ("folder in use", [*SEARCH], 1, f"is in use by pid {os.getpid()}"),
    # issue 28: silently wrong before (exit 0 with a result that should not exist)
    ("momentum=1.5", ["optimizer=sgd", "optimizer.momentum=1.5"], 2, "optimizer.momentum=1.5; must be a number in [0, 1)"),
    ("max_batches=0", ["callbacks.variation_eval.max_batches=0"], 2, "callbacks.variation_eval.max_batches=0"),
    ("rnas truncated weights", [*SEARCH, "search.mode=rnas", "search.rnas_checkpoint={out}/weights.pt"], 2,
     "search.rnas_checkpoint="),
    ("rnas text file", [*SEARCH, "search.mode=rnas", "search.rnas_checkpoint={out}/weights.pt"], 2,
     "cannot be read as saved weights"),
    ("rnas other architecture", [*SEARCH, "search.mode=rnas", "search.rnas_checkpoint={out}/weights.pt"], 2,
     "holds the weights of another architecture"),
    # issue 28: internal errors before
    ("data=nuclei with rls", ["data=nuclei"], 2, "data (NucleiDataModule) is a segmentation task but space=rls"),
    ("precision=16-true", ["trainer.precision=16-true"], 2, "trainer.precision='16-true' is not supported"),
    ("precision=64-true", ["trainer.precision=64-true"], 2, "trainer.precision='64-true' is not supported"),
    ("precision=bf16-true", ["trainer.precision=bf16-true"], 2, "trainer.precision='bf16-true' is not supported"),
    *([("precision=bf16-mixed on CPU", ["trainer.precision=bf16-mixed"], 2, "trainer.precision='bf16-mixed' runs on a GPU only")]
      if not _gpu_here() else []),
    ("image_size=100000", ["data.image_size=100000"], 2, "data.image_size=100000 would need"),
    ("data.device absent", [f"data.device={_cuda_device_absent_here()}"], 2, f"data.device='{_cuda_device_absent_here()}'"),
    ("lr=1e30", ["optimizer.lr=1e30"], 2, "optimizer.lr=1e+30; must be a number in (0, 10]"),
    # issue 28: a misspelt group or key gets the nearest real one, not Hydra's "+optimiser=..."
    ("optimiser=sgd", ["optimiser=sgd"], 2, "did you mean the group optimizer? (optimizer=sgd"),
    ("contoller=evolution", ["contoller=evolution"], 2, "did you mean the group controller? (controller=evolution"),
    ("device.device=pcm", ["device.device=pcm"], 2, "did you mean imc.device=pcm"),
    # issue 28: nsga2's objectives are checked before the search starts
    ("nsga2 objectives=reward", [*SEARCH, "controller=nsga2", "controller.objectives=reward"], 2,
     "controller.objectives must be a list of metric names"),
    ("nsga2 unknown objective", [*SEARCH, "controller=nsga2", "controller.objectives=[acc]",
                                 "controller.directions=[maximize]"], 2, "controller.objectives has 'acc'"),
]


def _prepare_folder(case_id: str, out: Path) -> None:
    """Damaged, foreign or other searches' histories, and the other special folders of the corpus."""
    from lightning_imc.search.history import HistoryStore

    history = out / "history.sqlite"
    if case_id == "history random bytes":
        history.write_bytes(bytes(range(256)) * 16)
    elif case_id == "history empty":
        history.write_bytes(b"")
    elif case_id == "history foreign SQLite":
        with closing(sqlite3.connect(history)) as conn:
            conn.execute("CREATE TABLE t (x)")
            conn.commit()
    elif case_id == "history newer schema":
        HistoryStore.open(history, {"any": 1}).close()
        with closing(sqlite3.connect(history)) as conn:  # closed now: nothing is written to it later
            conn.execute("PRAGMA user_version = 99")
    elif case_id in ("history other search", "resume=false"):
        HistoryStore.open(history, {"another": "search"}).close()
    elif case_id == "history other threads":
        from hydra import compose, initialize_config_dir

        from lightning_imc.app import _to_container
        from lightning_imc.search.loop import search_fingerprint

        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"paths.output_dir={out}", *SEARCH])
        HistoryStore.open(history, search_fingerprint(_to_container(cfg), threads=1)).close()
    elif case_id == "output under a file":
        (out / "a_file").write_text("not a folder")
    elif case_id == "rnas truncated weights":
        (out / "weights.pt").write_bytes(_candidate_weights_bytes()[:1000])
    elif case_id == "rnas text file":
        (out / "weights.pt").write_text("these are not weights\n")
    elif case_id == "rnas other architecture":
        import torch

        torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2)).state_dict(), out / "weights.pt")


def _candidate_weights_bytes() -> bytes:
    """An (untrained) state_dict of the default candidate's network, as ``torch.save`` writes it."""
    import io

    import torch
    from hydra import compose, initialize_config_dir

    from lightning_imc.app import prepare
    from lightning_imc.models.networks import build_network

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["paths.output_dir=/tmp/unused", *FAST])
    prepared = prepare(cfg)
    buffer = io.BytesIO()
    torch.save(build_network(prepared.spec, prepared.settings.imc).state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, computed_once):
    """Every corpus case run once through train.py (once per session, whatever the workers); ``{id: {rc,
    stdout, stderr, out, before}}``."""
    return computed_once("bad_inputs_corpus", lambda: _run_corpus(tmp_path_factory))


def _run_corpus(tmp_path_factory) -> dict[str, dict]:
    from lightning_imc.search.history import OutputLock

    base = tmp_path_factory.mktemp("corpus")
    cases, folders, before = [], {}, {}
    lock = None
    for number, (case_id, overrides, _, _) in enumerate(CORPUS):
        out = base / f"case{number:02d}"
        out.mkdir()
        _prepare_folder(case_id, out)
        if case_id == "folder in use":
            lock = OutputLock(out).acquire()  # held by this (pytest) process
        args = [a.replace("{out}", str(out)) for a in overrides]
        if not any(a.startswith("paths.output_dir=") for a in args):
            args.append(f"paths.output_dir={out}")
        args.append(f"hydra.run.dir={base / f'hydra{number:02d}'}")
        cases.append({"id": case_id, "args": args + FAST, "out": str(base / f"io{number:02d}"), "cwd": str(base)})
        folders[case_id] = out
        history = out / "history.sqlite"
        before[case_id] = history.read_bytes() if history.exists() else None
    # the paper's command exactly (default data root), and the debug flag
    cases.append({"id": "paper rls", "args": ["+experiment=rls", f"hydra.run.dir={base / 'paper'}"],
                  "out": str(base / "io_paper"), "cwd": str(base)})
    cases.append({"id": "debug", "args": ["data.batch_size=0", f"paths.output_dir={base / 'debug'}",
                                          f"hydra.run.dir={base / 'debug'}", *FAST],
                  "out": str(base / "io_debug"), "cwd": str(base), "env": {"LIGHTNING_IMC_DEBUG": "1"}})
    try:
        results = run_cases(cases)
    finally:
        if lock is not None:
            lock.release()
    for case_id, result in results.items():
        result["out"] = folders.get(case_id, base / "paper")
        result["before"] = before.get(case_id)
    return results


def test_corpus_is_large():
    assert len(CORPUS) >= 40
    assert len({case_id for case_id, *_ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case_id,overrides,status,needle", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_command_line(corpus, case_id, overrides, status, needle):
    result = corpus[case_id]
    output = result["stdout"] + result["stderr"]
    assert result["rc"] == status, (result["rc"], output[-3000:])
    assert TRACEBACK not in output, output[-3000:]
    assert needle in result["stderr"], result["stderr"][-2000:]
    assert TRAINER_BANNER not in output, "a Trainer was built before the error"
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    ours = [line for line in lines if line.split(":", 1)[0] in (
        "config error", "data error", "history error", "output folder error", "busy", "input error")]
    if ours:  # our own errors are one line, the last one
        assert len(ours) == 1 and lines[-1] == ours[0], lines
    if case_id in ("optimiser=sgd", "contoller=evolution", "device.device=pcm"):  # "+optimiser=sgd": the wrong fix
        assert "To append to your config use +" not in result["stderr"] and len(lines) == 1, lines
    history = Path(result["out"]) / "history.sqlite"
    if result["before"] is not None:  # a history that was there is never touched
        assert history.read_bytes() == result["before"]
    elif case_id != "folder in use":
        assert not history.exists()  # nothing half-made left behind


def test_paper_command_without_cifar10_is_one_line_exit_2_and_no_trainer(corpus):
    """``python train.py +experiment=rls`` exactly (default data root, where CIFAR-10 is absent)."""
    if (ROOT / "data" / "cifar-10-batches-py").exists() or (ROOT / "data" / "cifar-10-python.tar.gz").exists():
        pytest.skip("CIFAR-10 is present on this machine")
    done = corpus["paper rls"]
    assert done["rc"] == 2
    lines = [line for line in done["stderr"].splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("data error: CIFAR-10 not found") and "cifar-10-batches-py" in lines[0]
    assert TRAINER_BANNER not in done["stdout"] + done["stderr"]


def test_fork_driver_matches_a_real_process(tmp_path):
    args = ["optimizer.lr=nan", f"paths.output_dir={tmp_path}", f"hydra.run.dir={tmp_path}", *FAST]
    real = subprocess.run([sys.executable, TRAIN, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    forked = run_cases([{"id": "x", "args": args, "out": str(tmp_path / "io"), "cwd": str(tmp_path)}])["x"]
    assert (real.returncode, real.stderr) == (forked["rc"], forked["stderr"])


def test_debug_flag_shows_the_traceback(corpus):
    done = corpus["debug"]
    assert done["rc"] == 2
    assert TRACEBACK in done["stderr"] and done["stderr"].strip().splitlines()[-1].startswith("config error: data.batch_size")


# ------------------------------------------------------------------------------------------------
# library misuse: the documented exception, naming the argument


def test_library_misuse_raises_the_documented_exceptions(tmp_path):
    from lightning_imc.data import DigitsDataModule, get_datamodule
    from lightning_imc.layers.montecarlo import MonteCarloResult
    from lightning_imc.reward import RewardConfig
    from lightning_imc.search import ChildJob, run_child_job
    from lightning_imc.search.history import HistoryError, HistoryStore
    from lightning_imc.settings import ConfigError, check_output_dir, check_trainer_settings

    cases = [
        (lambda: get_datamodule("imagenet"), ValueError, "imagenet"),
        (lambda: DigitsDataModule(batch_size=0), ValueError, "batch_size"),
        (lambda: DigitsDataModule(val_fraction=float("nan")), ValueError, "val_fraction"),
        (lambda: RewardConfig(alpha=2), ValueError, "reward.alpha=2"),
        (lambda: MonteCarloResult.from_values([]), ValueError, "at least one value"),
        (lambda: MonteCarloResult.from_values([0.5, float("nan")]), ValueError, "chip 1"),
        (lambda: HistoryStore.open_readonly(tmp_path / "absent.sqlite"), HistoryError, "absent.sqlite"),
        (lambda: HistoryStore.open(tmp_path, {}), HistoryError, "is a directory"),
        (lambda: check_trainer_settings({"max_epochs": 0}), ConfigError, "trainer.max_epochs=0"),
        (lambda: check_trainer_settings({"max_epochs": True}), ConfigError, "trainer.max_epochs=True"),
        (lambda: check_output_dir("x" * 600), ConfigError, "paths.output_dir"),
        (lambda: run_child_job(ChildJob(config={}, phase="p", index=0, candidate={}, seed=0, train_epochs=1,
                                        variation="off", accuracy_source="clean",
                                        reward={"alpha": 1.0, "weights": {}, "merge": "weighted_sum",
                                                "failed_reward": -1.0})), ValueError, "context_factory"),
    ]
    for call, exception, needle in cases:
        with pytest.raises(exception) as info:
            call()
        assert needle in str(info.value), (needle, str(info.value))


def test_evaluate_on_chips_with_a_nan_metric_names_the_chip():
    import torch

    from lightning_imc.layers import IMCConfig, convert_to_imc
    from lightning_imc.layers.montecarlo import evaluate_on_chips

    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 2)), IMCConfig())
    with pytest.raises(ValueError, match="not finite"):
        evaluate_on_chips(model, lambda m: float("nan"), n_chips=3, seed=0)


def test_a_second_lock_on_a_folder_names_the_holder_and_a_dead_holder_leaves_none(tmp_path):
    from lightning_imc.search.history import OutputLock, OutputLockedError

    with OutputLock(tmp_path):
        with pytest.raises(OutputLockedError, match=f"pid {os.getpid()}"):
            OutputLock(tmp_path).acquire()
    # a process killed while holding the lock does not leave it stuck
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
                               "from lightning_imc.search.history import OutputLock; OutputLock(sys.argv[2]).acquire();"
                               "print('held', flush=True); time.sleep(600)", str(ROOT), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputLockedError, match=f"pid {holder.pid}"):
        OutputLock(tmp_path).acquire()
    holder.kill()
    holder.wait()
    OutputLock(tmp_path).acquire().release()


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    from lightning_imc.search.history import atomic_write

    target = tmp_path / "weights.pt"
    atomic_write(target, lambda f: f.write(b"old"))

    def failing(handle):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["weights.pt"]


# ------------------------------------------------------------------------------------------------
# for the lead (lightning_imc/layers is theirs): these fail today and must pass once the layers are fixed



@pytest.mark.parametrize("mode", ["train", "eval"])
def test_nan_input_to_an_imc_layer_propagates_as_nan(mode):
    import torch

    from lightning_imc.layers import IMCConfig, convert_to_imc

    torch.manual_seed(0)
    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 3)), IMCConfig())
    model.train(mode == "train")
    out = model(torch.tensor([[float("nan"), 1.0, 2.0, 3.0]]))
    assert torch.isnan(out).all()  # a NaN input must never read as 0


def test_nan_weight_of_an_imc_layer_propagates_as_nan():
    import torch

    from lightning_imc.layers import IMCConfig, convert_to_imc

    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 3)), IMCConfig()).eval()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    assert torch.isnan(model(torch.ones(1, 4))[0, 0])  # a NaN weight must never read as -1


def test_imc_config_refuses_array_rows_outside_the_chip_model():
    from lightning_imc.layers import IMCConfig

    with pytest.raises(ValueError, match="array_rows"):
        IMCConfig(array_rows=7)  # the chip model requires 8..2048


def test_convert_to_imc_of_a_string_names_the_argument():
    from lightning_imc.layers import convert_to_imc

    with pytest.raises(TypeError, match="model"):
        convert_to_imc("resnet")


# ------------------------------------------------------------------------------------------------
# issue 28: a fixable input is never remembered as the candidates' result


RNAS = [*SEARCH, "search.mode=rnas", "search.episodes=2", "search.batch_size=2", "search.chance_margin=null",
        "search.rnas_input_calibration_batches=1", "callbacks.variation_eval.bn_recalibration_batches=0",
        "data.max_eval_samples=64"]


def test_rnas_with_a_wrong_weights_file_stores_nothing_and_resumes_once_the_right_file_is_in_place(tmp_path):
    """The issue's case: a truncated file is refused (exit 2, one line naming the key, no history); with the
    right file put in place, the same command evaluates the candidates instead of "2 already in history"."""
    from lightning_imc.search.history import HistoryStore

    out, weights = tmp_path / "out", tmp_path / "weights.pt"
    out.mkdir()
    good = _candidate_weights_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    args = [*RNAS, f"search.rnas_checkpoint={weights}", f"paths.output_dir={out}", f"hydra.run.dir={out}"]
    case = {"id": "rnas", "args": args, "out": str(tmp_path / "io"), "cwd": str(tmp_path)}
    bad = run_cases([case])["rnas"]
    lines = [line for line in bad["stderr"].splitlines() if line.strip()]
    assert bad["rc"] == 2 and len(lines) == 1, bad["stderr"][-2000:]
    assert lines[0].startswith(f"config error: search.rnas_checkpoint='{weights}': cannot be read as saved weights")
    assert not (out / "history.sqlite").exists()

    weights.write_bytes(good)  # the right file, the same command
    done = run_cases([case])["rnas"]
    assert done["rc"] == 0, done["stderr"][-3000:]
    with HistoryStore.open_readonly(out / "history.sqlite") as store:
        records = store.records()
    assert len(records) == 2 and all(r.status == "ok" for r in records), [(r.status, r.error) for r in records]
    assert "search finished: 2 children evaluated, 0 failed" in done["stdout"] + done["stderr"]


def test_a_child_job_whose_saved_weights_cannot_be_loaded_raises_instead_of_failing(tmp_path):
    """Inside a search (the file replaced after the up-front check, or a later phase's file): the job raises
    SearchInputError, which the loop does not record, rather than returning a failed child."""
    import torch
    from hydra import compose, initialize_config_dir

    from lightning_imc.app import _to_container, child_context, prepare
    from lightning_imc.search import ChildJob, SearchInputError, run_child_job

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"paths.output_dir={tmp_path}", "data.max_eval_samples=64", *FAST])
    config = _to_container(cfg)
    candidate = prepare(cfg).candidate.to_dict()
    text, other = tmp_path / "notes.pt", tmp_path / "other.pt"
    text.write_text("not weights")
    torch.save({"weight": torch.zeros(3)}, other)
    for path, needle in ((text, "cannot be read as saved weights"), (other, "holds the weights of another architecture")):
        job = ChildJob(config=config, phase="rnas", index=0, candidate=candidate, seed=0, train_epochs=0,
                       variation="train", accuracy_source="variation", init_checkpoint=str(path),
                       reward={"alpha": 1.0, "weights": {}, "merge": "weighted_sum", "failed_reward": -1.0},
                       context_factory=child_context)
        with pytest.raises(SearchInputError, match=needle):
            run_child_job(job)


def test_a_diverging_child_names_optimizer_lr(tmp_path, monkeypatch):
    """A non-finite loss in a single child (lr within the up-front limit, yet too large for this network) ends
    with a ConfigError naming optimizer.lr, not "FloatingPointError" (exit 2 on the command line)."""
    from hydra import compose, initialize_config_dir

    from lightning_imc.app import child_job, run
    from lightning_imc.models import ChildModule
    from lightning_imc.settings import ConfigError

    class Diverging(ChildModule):
        def training_step(self, batch, batch_idx):
            raise FloatingPointError(f"non-finite training loss nan at step {self.global_step}")

    monkeypatch.setattr(child_job, "ChildModule", Diverging)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"paths.output_dir={tmp_path}", "optimizer.lr=5", "trainer.max_epochs=1", "data.max_train_samples=64", *FAST])
    with pytest.raises(ConfigError, match=r"^optimizer.lr=5: training diverged \(non-finite training loss nan at step 0\); "
                                          r"lower optimizer.lr"):
        run(cfg)


def test_the_default_child_trains_on_one_thread_whatever_torch_would_pick(monkeypatch):
    """The default command's figures depend on the torch thread count; mode=child pins it (1, or
    executor.threads_per_child) and gives the previous count back."""
    import dataclasses

    import torch
    from hydra import compose, initialize_config_dir

    from lightning_imc.app import child_job, prepare

    seen = []
    monkeypatch.setattr(child_job, "_run_child", lambda prepared, config, threads: seen.append(
        (threads, torch.get_num_threads())) or {})
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["paths.output_dir=/tmp/unused", *FAST])
    prepared = prepare(cfg)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        child_job.run_child(prepared)
        assert torch.get_num_threads() == 2
        settings = dataclasses.replace(prepared.settings, executor=dataclasses.replace(prepared.settings.executor,
                                                                                       threads_per_child=3))
        prepared.settings = settings
        child_job.run_child(prepared)
    finally:
        torch.set_num_threads(before)
    assert seen == [(1, 1), (3, 3)]


@pytest.mark.parametrize("value", [float("inf"), -float("inf")])
def test_inf_inputs_saturate_like_a_dac_where_the_range_is_fixed(value):
    """Absolute formats, and a calibrated range frozen in eval: ±inf reads as the end of the range, exactly as a
    huge finite input does (a DAC's full scale)."""
    import torch

    from lightning_imc.layers import IMCConfig, convert_to_imc
    from lightning_imc.models.networks import child_imc_config

    for config in (IMCConfig(variation="off"), child_imc_config(variation="off")):
        torch.manual_seed(0)
        model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 3)), config)
        model.train()
        model(torch.rand(64, 4) * 2)  # calibrates the child config's input range
        model.eval()
        with torch.no_grad():
            out = model(torch.tensor([[value, 1.0, 0.5, 0.25]]))
            huge = model(torch.tensor([[1e6 if value > 0 else -1e6, 1.0, 0.5, 0.25]]))
        assert torch.isfinite(out).all() and torch.equal(out, huge), (config.weight_scaling, out, huge)


def test_inf_where_the_range_is_measured_reads_as_nan_never_as_a_number():
    """A per-read input range (the conversion default) or a per-layer weight scale measured from an inf cannot
    be coded: that read or layer gives NaN; the other reads of the batch are unchanged."""
    import torch

    from lightning_imc.layers import IMCConfig, conversion_config, convert_to_imc
    from lightning_imc.models.networks import child_imc_config

    torch.manual_seed(0)
    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 3)), conversion_config(variation="off")).eval()
    good = torch.tensor([[0.3, 1.0, 0.5, 0.25]])
    with torch.no_grad():
        out = model(torch.cat([torch.tensor([[float("inf"), 1.0, 0.5, 0.25]]), good]))
        alone = model(good)
    assert torch.isnan(out[0]).all() and torch.equal(out[1:], alone)
    for config in (child_imc_config(variation="off"), IMCConfig(variation="off", weight_scaling="layer")):
        model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 3)), config).eval()
        with torch.no_grad():
            model[0].weight[0, 0] = float("inf")
            assert torch.isnan(model(good)).all()
    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(4, 3)), IMCConfig(variation="off")).eval()
    with torch.no_grad():  # absolute formats: the weight saturates at the largest code, like a huge one
        model[0].weight[0, 0] = float("inf")
        saturated = model(good)
        model[0].weight[0, 0] = 1e6
        assert torch.isfinite(saturated).all() and torch.equal(saturated, model(good))


def test_issue_28_library_misuse_raises_clear_exceptions():
    import torch

    from lightning_imc.controllers import get_controller
    from lightning_imc.controllers.benchmark import chain_landscape, run_controller
    from lightning_imc.hardware import network_from_module, optimize_circuit
    from lightning_imc.layers import IMCConfig, convert_to_imc, evaluate_on_chips, resample_chip
    from lightning_imc.layers.montecarlo import MonteCarloResult
    from lightning_imc.models import OptimizerConfig

    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(64, 10)), IMCConfig())
    net = network_from_module(model, torch.zeros(1, 64))
    nsga2 = get_controller("nsga2", cardinalities=[3, 3, 3], seed=0)
    unasked = get_controller("nsga2", cardinalities=[3, 3, 3], seed=0)
    unasked.ask = lambda n: pytest.fail("run_controller asked before refusing")  # the check comes first
    cases = [
        (lambda: evaluate_on_chips(model, lambda m: 0.5, n_chips=3, seed=0, value_range=(1, 0)), ValueError,
         "value_range=(1, 0); must be (low, high) with finite low < high"),
        (lambda: MonteCarloResult.from_values([0.4, 0.6], value_range=(1, 0)), ValueError, "value_range=(1, 0)"),
        (lambda: evaluate_on_chips(model, lambda m: "0.5", n_chips=3, seed=0), TypeError,
         "the metric returned str '0.5' on chip 0; a metric must return a number"),
        (lambda: evaluate_on_chips(model, lambda m: None, n_chips=3, seed=0), TypeError, "returned NoneType"),
        (lambda: resample_chip(model, seed="abc"), ValueError, "seed='abc'; must be None or an integer"),
        (lambda: evaluate_on_chips(model, lambda m: 0.5, n_chips=2, seed="abc"), ValueError, "seed='abc'"),
        (lambda: optimize_circuit(net, "rram_nacim", {"adc_bits": [0, 99]}), ValueError,
         "space['adc_bits'] has 0: ChipConfig.adc_bits=0; must be an integer in [1, 12]"),
        (lambda: optimize_circuit(net, "rram_nacim", {"adc_bits": [4, 99]}), ValueError, "space['adc_bits'] has 99"),
        (lambda: optimize_circuit(net, "rram_nacim", {"adc_bits": 5}), ValueError,
         "space['adc_bits'] must be a list of candidate values"),
        (lambda: OptimizerConfig(name="sgd", momentum=1.0), ValueError, "optimizer.momentum=1.0; must be a number in [0, 1)"),
        (lambda: run_controller(unasked, chain_landscape(0, [3, 3, 3]), budget=4), ValueError,
         "controller 'nsga2' optimises 2 objectives (accuracy_variation, edp) but objectives=None"),
        (lambda: nsga2.tell([[0, 0, 0]], [0.5]), ValueError, "objectives=['reward'], directions=['maximize']"),
    ]
    for call, exception, needle in cases:
        with pytest.raises(exception) as info:
            call()
        assert needle in str(info.value), (needle, str(info.value))
    # a value wrong only beside another field's default stays a point of the space (not refused)
    result = optimize_circuit(net, "rram_nacim", {"speedup_degree": [1, 2], "execution": ["layer_by_layer", "pipelined"]})
    assert result.n_evaluated >= 3
    # the single-objective NSGA-II the messages point to works with the scalar value alone
    single = get_controller("nsga2", cardinalities=[3, 3, 3], seed=0, objectives=["reward"], directions=["maximize"],
                            population_size=4)
    assert run_controller(single, chain_landscape(0, [3, 3, 3]), budget=8, batch_size=4).num_queries == 8


# ------------------------------------------------------------------------------------------------
# faults: signals, kill -9, a second writer, a full disk, a read-only folder

FAULT = ["mode=search", "search.mode=ptbnas", "search.episodes=4", "search.batch_size=2", "trainer.max_epochs=2",
         "data.max_train_samples=800",
         "data.batch_size=16", "controller=evolution", "controller.population_size=2", "controller.sample_size=2",
         "callbacks.variation_eval.n_chips=2", "reward.bound_samples=4", "executor.threads_per_child=1", *FAST]


def _start(out: Path, limit_bytes: int | None = None) -> subprocess.Popen:
    def limit():  # a "disk" that takes files of at most limit_bytes (the write fails with EFBIG)
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    out.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, TRAIN, *FAULT, f"paths.output_dir={out}", f"hydra.run.dir={out}"],
                            cwd=str(out.parent), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONHASHSEED="0"), preexec_fn=limit if limit_bytes else None)


def _job_started(process: subprocess.Popen, out: Path, timeout: float = 600) -> bool:
    """Wait until ``process`` holds the output folder's lock (its job runs); False if it ended first."""
    import time

    lock = out / ".lightning-imc.lock"
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if lock.exists() and f"pid {process.pid} " in lock.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def _final_history(out: Path) -> list[tuple]:
    import torch

    from lightning_imc.search.history import HistoryStore

    with HistoryStore.open_readonly(out / "history.sqlite") as store:
        records = store.records()
    for record in records:  # every checkpoint a record names is whole
        if record.checkpoint_path:
            torch.load(record.checkpoint_path, map_location="cpu", weights_only=True)
    return sorted((r.phase, r.index, r.key, r.status, round(r.reward, 6)) for r in records)


def _interrupt_and_resume(out: Path, signum: int, seed: str, full_disk: bool = False) -> int:
    """Start the search and send ``signum`` at a random moment of it (seeded); with ``full_disk``, continue
    on a "disk" too small for most children's weights (it must stop cleanly); then resume to the end with
    the same command. Returns 1 if the signal found the search running."""
    import random
    import signal
    import time

    hit = 0
    process = _start(out)
    if _job_started(process, out):
        time.sleep(random.Random(seed).uniform(0.0, 10.0))
        if process.poll() is None:
            hit = 1
            process.send_signal(signum)
    _, err = process.communicate(timeout=900)
    assert TRACEBACK not in err, err[-3000:]
    if signum == signal.SIGTERM and process.returncode != 0:
        assert process.returncode == 143, err[-2000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith("interrupted by SIGTERM: ") and "run the same command to resume" in last, last
    elif signum == signal.SIGKILL:
        assert process.returncode in (0, -signal.SIGKILL)
    if full_disk:
        disk = _start(out, limit_bytes=600_000)  # files of at most 600 kB
        _, err = disk.communicate(timeout=900)
        assert TRACEBACK not in err, err[-3000:]
        if disk.returncode != 0:  # (0: every remaining child fitted)
            assert disk.returncode == 1, err[-3000:]
            last = err.strip().splitlines()[-1]
            assert last.startswith("storage error: File too large") and "nothing recorded is lost" in last, last
        assert not list(out.rglob("*.tmp")), "a partial file was left behind"
    resumed = _start(out)  # the same command resumes
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err[-3000:]
    return hit


def _second_writer_is_refused(out: Path, first: subprocess.Popen) -> None:
    import signal

    assert _job_started(first, out)
    first.send_signal(signal.SIGSTOP)  # paused, not ended: it holds the lock however slow the second starts
    try:
        second = _start(out)
        err = second.communicate(timeout=600)[1]
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 1 and TRACEBACK not in err, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("busy: ") and f"is in use by pid {first.pid} " in last, last


def test_signals_kill_a_second_writer_and_a_full_disk_end_with_the_uninterrupted_history(tmp_path):
    """Searches side by side: one uninterrupted (a second command on its folder is refused at once), three
    hit by SIGTERM / SIGKILL at random moments (3 seeds), one of them then by a full disk; each resumed with
    the same command ends with the uninterrupted run's history."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    reference = _start(tmp_path / "reference")
    plans = {"term-seed0": (signal.SIGTERM, True), "kill-seed1": (signal.SIGKILL, False),
             "term-seed2": (signal.SIGTERM, False)}
    with ThreadPoolExecutor(len(plans) + 1) as pool:
        second = pool.submit(_second_writer_is_refused, tmp_path / "reference", reference)
        hits = [pool.submit(_interrupt_and_resume, tmp_path / name, signum, name, disk)
                for name, (signum, disk) in plans.items()]
        second.result()
        interrupted = sum(future.result() for future in hits)
    _, err = reference.communicate(timeout=900)
    assert reference.returncode == 0, err[-3000:]
    expected = _final_history(tmp_path / "reference")
    assert len(expected) == 4
    for name in plans:
        assert _final_history(tmp_path / name) == expected, name
    assert interrupted >= 2, "the random moments all fell after the searches ended"


def test_read_only_output_folder_and_read_only_finished_history(tmp_path):
    from lightning_imc.search.history import HistoryStore, OutputFolderError

    folder = tmp_path / "ro"
    folder.mkdir()
    HistoryStore.open(folder / "history.sqlite", {"a": 1}).close()
    mounted = False
    if os.geteuid() == 0:  # root ignores permissions: use a read-only mount
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)]).returncode == 0
        if mounted:
            HistoryStore.open(folder / "history.sqlite", {"a": 1}).close()
            mounted = subprocess.run(["mount", "-o", "remount,ro", str(folder)]).returncode == 0
        if not mounted:
            pytest.skip("running as root without permission to mount a read-only tmpfs")
    else:
        folder.chmod(0o555)
    try:
        before = (folder / "history.sqlite").read_bytes()
        with pytest.raises(OutputFolderError, match="read-only"):  # was reported as "damaged"
            HistoryStore.open(folder / "history.sqlite", {"a": 1})
        result = run_cases([{"id": "ro", "args": [*SEARCH, f"paths.output_dir={folder}",
                                                   f"hydra.run.dir={tmp_path / 'hydra'}"],
                             "out": str(tmp_path / "io"), "cwd": str(tmp_path)}])["ro"]
        assert result["rc"] == 2 and TRACEBACK not in result["stderr"], result["stderr"][-2000:]
        last = result["stderr"].strip().splitlines()[-1]
        assert last.startswith("output folder error: ") and str(folder) in last, last
        assert (folder / "history.sqlite").read_bytes() == before
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)])
        else:
            folder.chmod(0o755)


@pytest.mark.parametrize("signame,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_ends_one_child_with_its_status_and_one_line(tmp_path, signame, status):
    import signal
    import time

    out = tmp_path / "child"
    out.mkdir()
    process = subprocess.Popen([sys.executable, TRAIN, "trainer.max_epochs=500", f"paths.output_dir={out}",
                                f"hydra.run.dir={out}", *FAST], cwd=str(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert _job_started(process, out)
    time.sleep(2.0)  # inside training
    process.send_signal(getattr(signal, signame))
    _, err = process.communicate(timeout=300)
    assert process.returncode == status and TRACEBACK not in err, err[-3000:]
    assert err.strip().splitlines()[-1] == (f"interrupted by {signame}: nothing was saved (a single child is written "
                                            "only when it ends); run the same command to start again")
