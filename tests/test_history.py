"""The search's history store: records, resumption checks, foreign files, crash safety, readers."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lightning_imc.search.history import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    CandidateRecord,
    HistoryDivergedError,
    HistoryError,
    HistoryMismatchError,
    HistoryStore,
)

ROOT = Path(__file__).resolve().parents[1]
FP = {"search": {"seed": 0, "mode": "nacim"}, "space": {"name": "rls", "layers": [6, 2]}, "budget": 10}


def _rec(i: int, phase: str = "search", key: str | None = None, status: str = "ok") -> CandidateRecord:
    return CandidateRecord(
        phase=phase, index=i, key=key or f"{i:08x}", codes=[i % 3, 1, 2], choices={"ch": [16, 32], "bits": i},
        status=status, reward=0.5 + i / 100 if status == "ok" else float("nan"),
        metrics={"accuracy_clean": 0.8, "accuracy_variation": 0.7, "accuracy_variation_ci95": [0.69, 0.71],
                 "hardware": {"edp": 1e-9 * (i + 1), "area_mm2": 2.5}},
        seed=7, started_at=1000.0 + i, finished_at=1010.5 + i, train_seconds=9.25,
        checkpoint_path=f"ckpt/{i}.ckpt" if status == "ok" else None,
        error=None if status == "ok" else "RuntimeError: boom",
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_and_queries(tmp_path):
    path = tmp_path / "history.sqlite"
    recs = [_rec(0), _rec(1), _rec(0, phase="finetune", key="00000001"), _rec(2, status="failed")]
    with HistoryStore.open(path, FP) as store:
        for r in recs:
            assert store.record(r) == r
        store.set_meta("search.status", "done")
        store.set_meta("topk", ["00000000", "00000001"])
    with HistoryStore.open(path, FP, create=False) as store:
        got = store.records()
        assert [(r.phase, r.index) for r in got] == [(r.phase, r.index) for r in recs]
        for a, b in zip(got[:3], recs[:3]):
            assert a == b
        assert math.isnan(got[3].reward) and got[3].error == "RuntimeError: boom" and got[3].status == "failed"
        assert store.count("search") == 3 and store.count("finetune") == 1 and store.count() == 4
        assert store.count("search", status="ok") == 2
        assert [r.index for r in store.records(phase="search", status="failed")] == [2]
        assert len(store.records(phase=["search", "finetune"], status="ok")) == 3
        assert store.lookup("00000001").phase == "search"
        assert store.lookup("00000001", phase="finetune").phase == "finetune"
        assert store.lookup("missing") is None
        assert store.lookup("00000002") is not None and not store.lookup("00000002").ok
        assert store.get_meta("search.status") == "done" and store.get_meta("nope", 3) == 3
        assert store.meta() == {"search.status": "done", "topk": ["00000000", "00000001"]}
        assert store.phases() == ["search", "finetune"]
        assert store.fingerprint == FP
        with pytest.raises(ValueError):
            store.set_meta("_fingerprint", {})
        with pytest.raises(ValueError):
            store.record(_rec(9, status="maybe"))


def test_idempotent_and_diverged_slots(tmp_path):
    with HistoryStore.open(tmp_path / "h.sqlite", FP) as store:
        first = store.record(_rec(0))
        again = _rec(0)
        again.reward = 0.99  # a re-run of the same candidate: the stored result wins
        assert store.record(again) == first and store.count() == 1
        with pytest.raises(HistoryDivergedError, match=r"search\[0\].*00000000.*ffff"):
            store.record(_rec(0, key="ffff"))
        assert store.count() == 1 and store.records()[0].key == "00000000"
        assert store.record(_rec(0, phase="other", key="ffff")).key == "ffff"  # other phase, other slot


def test_state_snapshots(tmp_path):
    path = tmp_path / "h.sqlite"
    with HistoryStore.open(path, FP) as store:
        assert store.load_state("controller") is None
        store.save_state("controller", 3, {"theta": [0.1, 0.2], "baseline": 0.5})
        store.save_state("controller", 4, {"theta": [0.3, 0.4], "baseline": 0.6})
        store.save_state("rng", 4, {"state": [1, 2, 3]})
    with HistoryStore.open(path, FP) as store:
        assert store.load_state("controller") == (4, {"theta": [0.3, 0.4], "baseline": 0.6})
        assert store.load_state("rng") == (4, {"state": [1, 2, 3]})


def test_fingerprint_mismatch_names_the_key(tmp_path):
    path = tmp_path / "h.sqlite"
    HistoryStore.open(path, FP).close()
    before = _sha(path)
    other = {**FP, "search": {"seed": 1, "mode": "nacim"}}
    with pytest.raises(HistoryMismatchError) as info:
        HistoryStore.open(path, other)
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in msg
    assert "search.seed: 0 != 1" in msg and "output directory" in msg and "delete" in msg and str(path) in msg
    with pytest.raises(HistoryMismatchError, match=r"space\.layers\[1\]: 2 != 4"):
        HistoryStore.open(path, {**FP, "space": {"name": "rls", "layers": [6, 4]}})
    with pytest.raises(HistoryMismatchError, match=r"extra: <missing> != 1"):
        HistoryStore.open(path, {**FP, "extra": 1})
    # tuples and lists describe the same search
    HistoryStore.open(path, {**FP, "space": {"name": "rls", "layers": (6, 2)}}).close()
    assert _sha(path) == before


def test_missing_file_without_create(tmp_path):
    with pytest.raises(HistoryError, match="no history file"):
        HistoryStore.open(tmp_path / "none.sqlite", FP, create=False)
    with pytest.raises(HistoryError, match="no history file"):
        HistoryStore.open_readonly(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def _other_app_db(path: Path, app_id: int = 0x12345678, user_version: int = 0) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {app_id}")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.execute("CREATE TABLE things (x INTEGER)")
    conn.execute("INSERT INTO things VALUES (1)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind", ["random", "empty", "text", "other_app", "no_app_id", "newer", "no_tables"])
def test_foreign_or_damaged_file_is_reported_and_untouched(tmp_path, kind):
    path = tmp_path / "history.sqlite"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("results, not a database\n" * 20)
    elif kind == "other_app":
        _other_app_db(path)
    elif kind == "no_app_id":
        _other_app_db(path, app_id=0)
    elif kind == "newer":
        _other_app_db(path, app_id=APPLICATION_ID, user_version=SCHEMA_VERSION + 1)
    elif kind == "no_tables":
        _other_app_db(path, app_id=APPLICATION_ID, user_version=SCHEMA_VERSION)
    before = _sha(path)
    expected = {
        "random": "not a SQLite database", "empty": "empty file", "text": "not a SQLite database",
        "other_app": "another application", "no_app_id": "another application", "newer": "newer",
        "no_tables": "damaged history",
    }[kind]
    for opener in (lambda: HistoryStore.open(path, FP), lambda: HistoryStore.open_readonly(path)):
        with pytest.raises(HistoryError) as info:
            opener()
        msg = str(info.value)
        assert expected in msg and str(path) in msg and "\n" not in msg
    assert _sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def test_file_layout_pragmas(tmp_path):
    path = tmp_path / "h.sqlite"
    HistoryStore.open(path, FP).close()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert not list(tmp_path.glob(".*tmp*"))  # no leftovers of the atomic creation


_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from lightning_imc.search.history import HistoryStore, CandidateRecord
    store = HistoryStore.open({path!r}, {fp!r})
    i = start = store.count("search")
    while True:
        store.record(CandidateRecord(phase="search", index=i, key=format(i, "08x"), codes=[i, i + 1],
                     choices={{"i": i, "pad": "x" * 500}}, status="ok", reward=i / 10,
                     metrics={{"accuracy_variation": 0.5, "hardware": {{"edp": 1e-9}}}}, seed=i,
                     started_at=float(i), finished_at=float(i) + 1, train_seconds=1.0))
        store.save_state("controller", i, {{"step": i, "theta": [i] * 50}})
        if i == start + 5:
            print("ready", flush=True)
        i += 1
    """
)


def _spawn_writer(path: Path) -> subprocess.Popen:
    code = _WRITER.format(root=str(ROOT), path=str(path), fp=FP)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_after_ready(proc: subprocess.Popen, extra_s: float) -> None:
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    time.sleep(extra_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _check_consistent(store: HistoryStore) -> int:
    assert store.integrity_check() == "ok"
    recs = store.records()
    assert [r.index for r in recs] == list(range(len(recs)))  # a prefix, no gap
    for r in recs:  # every record complete
        assert r.key == format(r.index, "08x") and r.codes == [r.index, r.index + 1]
        assert r.choices == {"i": r.index, "pad": "x" * 500} and r.metrics["hardware"]["edp"] == 1e-9
    step, state = store.load_state("controller")
    assert state["step"] == step and step in (len(recs) - 1, len(recs) - 2)
    return len(recs)


def test_kill_9_writer_leaves_a_consistent_prefix_and_resumes(tmp_path):
    path = tmp_path / "history.sqlite"
    proc = _spawn_writer(path)
    _kill_after_ready(proc, 0.3)
    with HistoryStore.open(path, FP) as store:
        n1 = _check_consistent(store)
    assert n1 >= 6
    # resume with the same command: continues after the last finished candidate
    proc = _spawn_writer(path)
    _kill_after_ready(proc, 0.1)
    with HistoryStore.open_readonly(path) as store:
        n2 = _check_consistent(store)
    assert n2 > n1
    conn = sqlite3.connect(path)  # an independent check with plain sqlite3
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_readonly_reader_while_writer_is_open(tmp_path):
    path = tmp_path / "history.sqlite"
    proc = _spawn_writer(path)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        with HistoryStore.open_readonly(path) as reader:
            first = reader.count()
            assert first >= 6
            deadline = time.monotonic() + 20
            while reader.count() == first and time.monotonic() < deadline:
                time.sleep(0.05)
            assert reader.count() > first  # sees the writer's new commits
            assert reader.fingerprint == FP and reader.records()[0].index == 0
            with pytest.raises(HistoryError, match="read-only"):
                reader.record(_rec(10 ** 6))
            with pytest.raises(HistoryError, match="read-only"):
                reader.set_meta("x", 1)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_same_process_writer_and_reader(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path, FP) as writer, HistoryStore.open_readonly(path) as reader:
        assert reader.count() == 0
        writer.record(_rec(0))
        assert reader.count() == 1 and reader.lookup("00000000") == _rec(0)
    assert repr(writer).endswith("closed)")
    with pytest.raises(HistoryError, match="closed"):
        writer.count()
