"""Durable history of a search: one SQLite file (standard library only).

Every finished candidate is written as one :class:`CandidateRecord` in its own committed
transaction (WAL journal, ``synchronous=FULL``), so a search killed at any moment — even with
``kill -9`` — leaves a consistent file holding every candidate that finished before the kill.
Resuming with the same command re-opens the file, checks that it describes the same search (the
*fingerprint*), skips the candidates already recorded (:meth:`HistoryStore.lookup`) and restores the
controller from its latest snapshot (:meth:`HistoryStore.load_state`).

The file is recognised by ``PRAGMA application_id`` (:data:`APPLICATION_ID`, ASCII ``"IMCH"``) and
its schema version by ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`). Both are read from the raw
file header before SQLite touches the file, so a file of another application (or not SQLite at
all, or from a newer version of this package) is reported with :class:`HistoryError` and is never
modified. A new file is built under a temporary name and renamed into place, so a crash during
creation never leaves a half-made history behind.

Concurrency: one writer (the search process) and any number of readers; readers open the file
with :meth:`HistoryStore.open_readonly` (SQLite ``mode=ro`` URI) and see every committed record
while the writer runs. The writer holds :class:`OutputLock` on its output folder (``fcntl.flock`` on
``.lightning-imc.lock``): a second writer is refused at once with the first one's process id, host,
start time and command; the kernel drops the lock when its holder dies, so a killed search never
leaves the folder locked. Files a later step loads (checkpoints, JSON results) are written with
:func:`atomic_write` (temporary file in the same folder, ``fsync``, ``os.replace``): a crash or a full
disk leaves the old file or none, never a partial one.

Units in records: ``started_at``/``finished_at`` are Unix times (s), ``train_seconds`` is s;
hardware metrics under ``metrics["hardware"]`` are ``latency_s`` (s), ``energy_j`` (J),
``area_mm2`` (mm²), ``edp`` (J·s), ``tops`` and ``tops_per_w``; accuracies are fractions in [0, 1].

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.sqlite")
    >>> with HistoryStore.open(path, {"search": {"seed": 0}}) as store:
    ...     rec = store.record(CandidateRecord(phase="search", index=0, key="ab12", codes=[1, 0],
    ...                                        choices={"ch": 16}, status="ok", reward=0.7,
    ...                                        metrics={"accuracy_variation": 0.7}, seed=0))
    ...     store.count("search"), store.lookup("ab12").reward
    (1, 0.7)
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import sqlite3
import sys
import struct
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "DEFAULT_HISTORY_NAME",
    "CandidateRecord",
    "HistoryStore",
    "HistoryError",
    "HistoryMismatchError",
    "HistoryDivergedError",
    "OutputLock",
    "OutputLockedError",
    "OutputFolderError",
    "atomic_write",
    "is_storage_error",
    "fingerprint_difference",
]

APPLICATION_ID = 0x494D4348
"""``PRAGMA application_id`` of a lightning-imc history (ASCII ``"IMCH"``)."""

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` written by this version of the package; newer files are refused."""

DEFAULT_HISTORY_NAME = "history.sqlite"
"""Conventional file name of the history inside a search's output directory."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_STATUSES = ("ok", "failed")
_RESERVED_PREFIX = "_"
_FINGERPRINT_KEY = "_fingerprint"

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE candidates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phase TEXT NOT NULL,
    idx INTEGER NOT NULL,
    key TEXT NOT NULL,
    codes TEXT NOT NULL,
    choices TEXT NOT NULL,
    status TEXT NOT NULL,
    reward REAL,
    metrics TEXT NOT NULL,
    seed INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    train_seconds REAL NOT NULL,
    checkpoint_path TEXT,
    error TEXT,
    UNIQUE (phase, idx)
);
CREATE INDEX candidates_key ON candidates (key);
CREATE TABLE states (
    name TEXT PRIMARY KEY,
    step INTEGER NOT NULL,
    state TEXT NOT NULL,
    saved_at REAL NOT NULL
);
"""


class HistoryError(Exception):
    """A history file that cannot be used (missing, not SQLite, another application's, too new)."""


class HistoryMismatchError(HistoryError, ValueError):
    """The history was written by a different search (its fingerprint differs)."""


class HistoryDivergedError(HistoryError, ValueError):
    """A resumed search proposed a different candidate at an already recorded (phase, index)."""


class OutputLockedError(HistoryError):
    """Another process is writing to the output folder (it holds :class:`OutputLock`)."""


class OutputFolderError(HistoryError):
    """The output folder cannot be created or written (read-only, no permission, not a folder)."""


#: errno values that mean "the storage refused the write" (not a bug, not a failing child).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                            errno.ENAMETOOLONG, errno.EIO})


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the storage refusing a write or read (full disk, read-only, file too large...).

    Such an error must stop a search (nothing recorded is lost, the same command resumes) rather than
    be recorded as a failed child.
    """
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(s in text for s in ("disk is full", "readonly", "read-only", "disk i/o", "unable to open"))
    if isinstance(exc, RuntimeError):  # torch.save reports a failed write as RuntimeError
        text = str(exc).lower()
        return "file write failed" in text or "no space left" in text
    return False


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write a file all at once: ``write(handle)`` into a temporary file beside ``path``, ``fsync``, rename.

    A crash or a full disk while writing leaves the previous file (or none), never a partial one; the
    temporary file is removed when the write fails.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "result.json"
    >>> _ = atomic_write(target, lambda f: f.write('{"ok": 1}'), binary=False)
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('{"ok": 1}', ['result.json'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would create it (mkstemp makes it private)
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:  # name the file the disk refused
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    _fsync_dir(path.parent)
    return path


LOCK_NAME = ".lightning-imc.lock"
"""File name of the output folder's lock (kept; its content names the last holder)."""


class OutputLock:
    """An exclusive lock on an output folder: one writer at a time.

    ``fcntl.flock`` on ``<folder>/.lightning-imc.lock``. The kernel releases it when the holder's
    process ends in any way (``kill -9`` included), so it is never left stuck; the file stays and
    names the last holder (pid, host, start time, command).

    Raises (from :meth:`acquire`):
        OutputLockedError: another process holds the lock (the message names it).
        OutputFolderError: the folder cannot be created or written.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputFolderError(
                f"output folder {self.folder} cannot be written ({exc.strerror or exc}); make it writable or "
                "choose another paths.output_dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputLockedError(
                    f"output folder {self.folder} is in use by {holder}; wait for it to end (or stop it) and run "
                    "the same command again, or choose another paths.output_dir") from None
            raise
        info = (f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}, "
                f"command: {' '.join(sys.argv)[:1000]}")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise OutputFolderError(
                f"output folder {self.folder} cannot be written ({exc.strerror or exc}); free space or choose "
                "another paths.output_dir") from None
        self._fd = fd
        return self

    def release(self) -> None:
        """Releases the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class CandidateRecord:
    """One evaluated candidate of a search.

    Attributes:
        phase: Phase of the search, e.g. ``"ptbnas"``, ``"rnas"``, ``"finetune"``, ``"search"``.
        index: Position of the proposal in the phase (0, 1, 2, ... in ask order).
        key: Candidate key (hex string); the cache key of a genome.
        codes: Controller codes of the candidate.
        choices: Decoded candidate (JSON-able).
        status: ``"ok"`` or ``"failed"``.
        reward: Reward given to the controller (``nan`` allowed for failures).
        metrics: Measured figures (JSON-able), e.g. ``accuracy_clean``, ``accuracy_variation``,
            ``accuracy_variation_std``, ``accuracy_variation_ci95`` ``[lo, hi]`` (fractions),
            ``hardware`` ``{latency_s (s), energy_j (J), area_mm2 (mm²), tops, tops_per_w,
            edp (J·s)}``, ``hardware_efficiency`` (in [0, 1]), ``repairs``.
        seed: Seed used to train/evaluate the candidate.
        started_at: Unix time (s) when its evaluation started.
        finished_at: Unix time (s) when it finished.
        train_seconds: Training time (s).
        checkpoint_path: Path of the trained weights, if kept.
        error: Error text of a failed candidate.
    """

    phase: str
    index: int
    key: str
    codes: list[int]
    choices: dict
    status: str
    reward: float
    metrics: dict = field(default_factory=dict)
    seed: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    train_seconds: float = 0.0
    checkpoint_path: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the candidate was evaluated successfully."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (JSON-able when its fields are)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CandidateRecord":
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})


# ----------------------------------------------------------------------------------------------
# fingerprints


def _canonical(value: Any) -> Any:
    """``value`` after a JSON round trip (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, sort_keys=True, allow_nan=True))


def fingerprint_difference(stored: Any, given: Any, prefix: str = "") -> str | None:
    """First difference between two JSON-like values as ``"a.b[2]: old != new"``, or ``None``.

    Dict keys are visited in sorted order; a missing key shows as ``<missing>``.

    >>> fingerprint_difference({"search": {"seed": 0}}, {"search": {"seed": 1}})
    'search.seed: 0 != 1'
    >>> fingerprint_difference({"a": [1, 2]}, {"a": [1, 2]}) is None
    True
    """
    if isinstance(stored, dict) and isinstance(given, dict):
        for k in sorted(set(stored) | set(given), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in stored:
                return f"{path}: <missing> != {given[k]!r}"
            if k not in given:
                return f"{path}: {stored[k]!r} != <missing>"
            diff = fingerprint_difference(stored[k], given[k], path)
            if diff:
                return diff
        return None
    if isinstance(stored, list) and isinstance(given, list):
        for i, (a, b) in enumerate(zip(stored, given)):
            diff = fingerprint_difference(a, b, f"{prefix}[{i}]")
            if diff:
                return diff
        if len(stored) != len(given):
            return f"{prefix or '<root>'}: list of {len(stored)} != list of {len(given)}"
        return None
    same = stored == given or (
        isinstance(stored, float) and isinstance(given, float) and math.isnan(stored) and math.isnan(given)
    )
    if same and type(stored) is type(given):
        return None
    if same and isinstance(stored, (int, float)) and isinstance(given, (int, float)) and not isinstance(
        stored, bool
    ) and not isinstance(given, bool):
        return None  # 1 and 1.0 describe the same setting
    return f"{prefix or '<root>'}: {stored!r} != {given!r}"


# ----------------------------------------------------------------------------------------------
# file checks


def _check_header(path: Path) -> None:
    """Validates the raw SQLite header of an existing file without opening it with SQLite."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the history file ({exc.strerror or exc})") from exc
    if len(header) == 0:
        raise HistoryError(f"{path}: empty file, not a lightning-imc history (refusing to overwrite it)")
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise HistoryError(f"{path}: not a SQLite database, so not a lightning-imc history (refusing to touch it)")
    user_version, = struct.unpack(">i", header[60:64])
    application_id, = struct.unpack(">i", header[68:72])
    if application_id != APPLICATION_ID:
        raise HistoryError(
            f"{path}: SQLite database of another application (application_id {application_id:#x}, "
            f"expected {APPLICATION_ID:#x}); not a lightning-imc history (refusing to touch it)"
        )
    if user_version > SCHEMA_VERSION:
        raise HistoryError(
            f"{path}: history schema version {user_version} is newer than this lightning-imc "
            f"understands ({SCHEMA_VERSION}); upgrade lightning-imc to read it"
        )
    if user_version < 1:
        raise HistoryError(f"{path}: history without a schema version (user_version {user_version}); damaged file")


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode={'ro' if readonly else 'rw'}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create(path: Path, fingerprint: Any) -> None:
    """Builds a new history under a temporary name and renames it to ``path`` (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp_name)  # let SQLite create it from scratch
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            now = time.time()
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    (_FINGERPRINT_KEY, json.dumps(fingerprint, sort_keys=True)),
                    ("_created_at", json.dumps(now)),
                    ("_schema_version", json.dumps(SCHEMA_VERSION)),
                ],
            )
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent; set after the header is written
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process created ``path`` meanwhile
        except FileExistsError:
            raise HistoryError(f"{path}: created by another process while this one was creating it") from None
        except OSError:
            if path.exists():
                raise HistoryError(f"{path}: created by another process while this one was creating it") from None
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(str(tmp) + suffix)
            except FileNotFoundError:
                pass


# ----------------------------------------------------------------------------------------------
# the store


_COLUMNS = (
    "phase, idx, key, codes, choices, status, reward, metrics, seed, started_at, finished_at, "
    "train_seconds, checkpoint_path, error"
)


def _row_to_record(row: Sequence[Any]) -> CandidateRecord:
    (phase, idx, key, codes, choices, status, reward, metrics, seed, started, finished, train_s, ckpt,
     error) = row
    return CandidateRecord(
        phase=phase,
        index=int(idx),
        key=key,
        codes=json.loads(codes),
        choices=json.loads(choices),
        status=status,
        reward=float("nan") if reward is None else float(reward),
        metrics=json.loads(metrics),
        seed=int(seed),
        started_at=float(started),
        finished_at=float(finished),
        train_seconds=float(train_s),
        checkpoint_path=ckpt,
        error=error,
    )


class HistoryStore:
    """A search's history in one SQLite file; create with :meth:`open` or :meth:`open_readonly`.

    Every write is its own committed transaction. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = conn

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, fingerprint: Mapping[str, Any], *, create: bool = True) -> "HistoryStore":
        """Opens (resumes) or creates the history at ``path`` for the search described by ``fingerprint``.

        Args:
            path: The SQLite file.
            fingerprint: JSON-able description of the search (space, mode, seed, controller and its
                hyperparameters, budgets...). Stored when the file is created; must be equal when
                it is re-opened.
            create: Create the file when it does not exist (otherwise a missing file is an error).

        Raises:
            HistoryMismatchError: The file was written by a search with another fingerprint.
            HistoryError: Missing file (``create=False``), not SQLite, another application's
                database, a newer schema, or damaged. The file is left untouched.
        """
        path = Path(path)
        given = _canonical(dict(fingerprint))
        if not path.exists():
            if not create:
                raise HistoryError(f"{path}: no history file")
            _create(path, given)
        store = cls._open_existing(path, readonly=False)
        try:
            stored = store.fingerprint
            diff = fingerprint_difference(stored, given)
            if diff is not None:
                raise HistoryMismatchError(
                    f"{path} belongs to a different search ({diff}); use another output directory for a "
                    f"new search, or delete {path} to discard its history"
                )
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, path: str | os.PathLike) -> "HistoryStore":
        """Opens an existing history for reading only (works while a writer has it open).

        Raises:
            HistoryError: Missing file, not SQLite, another application's database, newer schema.
        """
        path = Path(path)
        if not path.exists():
            raise HistoryError(f"{path}: no history file")
        return cls._open_existing(path, readonly=True)

    @classmethod
    def _open_existing(cls, path: Path, readonly: bool) -> "HistoryStore":
        if path.is_dir():
            raise HistoryError(f"{path}: is a directory, not a history file")
        _check_header(path)
        if not readonly and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
            what = path if not os.access(path, os.W_OK) else path.parent
            raise OutputFolderError(
                f"{what} is read-only: the history {path} is intact but cannot be resumed or extended here; "
                f"make it writable (e.g. chmod u+w) or read it with HistoryStore.open_readonly")
        try:
            conn = _connect(path, readonly)
        except sqlite3.Error as exc:
            raise HistoryError(f"{path}: cannot open the history ({exc})") from exc
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = {"meta", "candidates", "states"} - tables
            if missing:
                raise HistoryError(f"{path}: damaged history, missing table(s) {', '.join(sorted(missing))}")
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (_FINGERPRINT_KEY,)).fetchone()
            if row is None:
                raise HistoryError(f"{path}: damaged history, no fingerprint in its meta table")
            json.loads(row[0])
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HistoryError(f"{path}: damaged history ({exc})") from exc
        except (HistoryError, ValueError) as exc:
            conn.close()
            if isinstance(exc, HistoryError):
                raise
            raise HistoryError(f"{path}: damaged history, unreadable fingerprint ({exc})") from exc
        if not readonly:  # only now that the file is known to be ours
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA journal_mode = WAL")
        return cls(path, conn, readonly)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "read-write"
        return f"HistoryStore({str(self.path)!r}, {mode}{', closed' if self._conn is None else ''})"

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError(f"{self.path}: history is closed")
        return self._conn

    def _write(self, sql_calls: Iterable[tuple[str, Sequence[Any]]]) -> None:
        if self.readonly:
            raise HistoryError(f"{self.path}: history opened read-only")
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in sql_calls:
                conn.execute(sql, params)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- metadata ------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> dict:
        """The fingerprint stored when the history was created."""
        return json.loads(self.conn.execute("SELECT value FROM meta WHERE key = ?", (_FINGERPRINT_KEY,)).fetchone()[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Stores a small JSON-able ``value`` under ``key`` (e.g. ``"ptbnas.status"`` → ``"done"``)."""
        if key.startswith(_RESERVED_PREFIX):
            raise ValueError(f"meta keys starting with {_RESERVED_PREFIX!r} are reserved: {key!r}")
        text = json.dumps(value, sort_keys=True)
        self._write([("INSERT INTO meta (key, value) VALUES (?, ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, text))])

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def meta(self) -> dict[str, Any]:
        """All user metadata (reserved keys excluded)."""
        rows = self.conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        return {k: json.loads(v) for k, v in rows if not k.startswith(_RESERVED_PREFIX)}

    # -- records -------------------------------------------------------------------------------

    def record(self, rec: CandidateRecord) -> CandidateRecord:
        """Writes ``rec`` durably (one committed transaction) and returns the stored record.

        Idempotent on ``(phase, index)``: recording the same slot again with the same ``key`` is a
        no-op that returns the record stored first.

        Raises:
            HistoryDivergedError: The slot holds a candidate with another key (the resumed search
                diverged from the recorded one).
            ValueError: Invalid status or a value that is not JSON-able.
        """
        if rec.status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}, got {rec.status!r}")
        if self.readonly:
            raise HistoryError(f"{self.path}: history opened read-only")
        params = (
            str(rec.phase), int(rec.index), str(rec.key), json.dumps([int(c) for c in rec.codes]),
            json.dumps(rec.choices, sort_keys=True), rec.status,
            None if rec.reward is None else float(rec.reward), json.dumps(rec.metrics, sort_keys=True),
            int(rec.seed), float(rec.started_at), float(rec.finished_at), float(rec.train_seconds),
            None if rec.checkpoint_path is None else str(rec.checkpoint_path),
            None if rec.error is None else str(rec.error),
        )
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(f"SELECT {_COLUMNS} FROM candidates WHERE phase = ? AND idx = ?",
                               (params[0], params[1])).fetchone()
            if row is not None:
                conn.execute("ROLLBACK")
                stored = _row_to_record(row)
                if stored.key != params[2]:
                    raise HistoryDivergedError(
                        f"{self.path}: {rec.phase}[{rec.index}] holds candidate {stored.key} but the search "
                        f"now proposes {rec.key}; the resumed search diverged from the recorded one"
                    )
                return stored
            conn.execute(f"INSERT INTO candidates ({_COLUMNS}) VALUES ({', '.join('?' * 14)})", params)
        except HistoryDivergedError:
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return _row_to_record(params)

    def records(self, phase: str | Sequence[str] | None = None, status: str | None = None) -> list[CandidateRecord]:
        """Records in insertion order, optionally of one phase (or several) and one status."""
        sql, args = self._where(phase, status)
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM candidates{sql} ORDER BY id", args).fetchall()
        return [_row_to_record(r) for r in rows]

    def count(self, phase: str | Sequence[str] | None = None, status: str | None = None) -> int:
        """Number of records (of ``phase`` and ``status`` when given)."""
        sql, args = self._where(phase, status)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM candidates{sql}", args).fetchone()[0])

    def lookup(self, key: str, phase: str | Sequence[str] | None = None) -> CandidateRecord | None:
        """The record of candidate ``key`` (the cache), or ``None``.

        Searches all phases unless ``phase`` (a name or several) is given — pass the phases that
        share training. A successful record is preferred to a failed one; among equals the first.
        """
        sql, args = self._where(phase, None)
        sql = (sql + " AND" if sql else " WHERE") + " key = ?"
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM candidates{sql} ORDER BY (status = 'ok') DESC, id LIMIT 1", (*args, key)
        ).fetchone()
        return None if row is None else _row_to_record(row)

    def phases(self) -> list[str]:
        """Phases present, in order of their first record."""
        rows = self.conn.execute("SELECT phase, MIN(id) AS first FROM candidates GROUP BY phase ORDER BY first")
        return [r[0] for r in rows]

    @staticmethod
    def _where(phase: str | Sequence[str] | None, status: str | None) -> tuple[str, tuple]:
        clauses, args = [], []
        if phase is not None:
            phases = [phase] if isinstance(phase, str) else list(phase)
            clauses.append(f"phase IN ({', '.join('?' * len(phases))})" if phases else "0")
            args.extend(phases)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)

    # -- controller state ----------------------------------------------------------------------

    def save_state(self, name: str, step: int, state: Mapping[str, Any]) -> None:
        """Stores the latest snapshot ``state`` (JSON-able) of ``name`` (e.g. a controller) at ``step``."""
        text = json.dumps(state, sort_keys=True)
        self._write([(
            "INSERT INTO states (name, step, state, saved_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
            "SET step = excluded.step, state = excluded.state, saved_at = excluded.saved_at",
            (name, int(step), text, time.time()),
        )])

    def load_state(self, name: str) -> tuple[int, dict] | None:
        """The latest ``(step, state)`` saved under ``name``, or ``None``."""
        row = self.conn.execute("SELECT step, state FROM states WHERE name = ?", (name,)).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` for a sound file)."""
        return "; ".join(r[0] for r in self.conn.execute("PRAGMA integrity_check"))
