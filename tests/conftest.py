"""Test-wide settings: W&B offline and inside a temporary folder; a fixed number of CPU threads."""

import os
import tempfile

import pytest
import torch

_WANDB_ROOT = tempfile.mkdtemp(prefix="lightning-imc-wandb-")
for _key in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
    os.environ.setdefault(_key, _WANDB_ROOT)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


# Under pytest-xdist (the README's command runs one worker per core) each worker computes on one thread:
# two workers of two threads each on a 2-core machine would oversubscribe the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)



@pytest.fixture(scope="session")
def computed_once(tmp_path_factory):
    """``computed_once(name, compute)``: ``compute()`` once per test session even across pytest-xdist
    workers, for module fixtures that take minutes (a corpus of command-line runs, controllers searched on
    landscapes): the first worker to ask computes it and pickles it beside the workers' temporary folders,
    the others wait for it and load it."""
    import fcntl
    import pickle

    def once(name, compute):
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            return compute()
        shared = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers
        path = shared / f"{name}.pickle"
        with open(shared / f"{name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if path.is_file():
                return pickle.loads(path.read_bytes())
            value = compute()
            path.write_bytes(pickle.dumps(value))
            return value

    return once
