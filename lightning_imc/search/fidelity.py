"""Multi-fidelity search: successive halving over a phase's children (train many briefly, continue the best).

Most of a search's cost is child epochs. With ``search.fidelity`` set, a training phase (``nas``,
``quantnas``, ``ptbnas``, and ``nacim``'s ptbNAS) runs in rungs:

* rung 0 is the ordinary phase: the controller asks, and every proposal trains ``rungs[0]`` epochs
  (its reward at that fidelity is what the controller is told, so all its rewards are comparable);
* rung ``k >= 1`` (history phase ``<phase>/rung<k>``) takes the best ``1/eta`` of rung ``k-1``'s
  distinct successful children by reward (at least ``min_promoted``, and at least ``top_k`` before
  nacim's rNAS) and continues each *from its saved weights* for ``rungs[k] - rungs[k-1]`` more
  epochs, then evaluates it again on chips and hardware.

Every record carries ``metrics["epochs"]`` (epochs trained by that job); a continued child also has
``metrics["total_epochs"]`` and ``metrics["promoted_from"]`` (``[phase, index]`` of the record it
continued). :func:`child_epochs` sums a history's training cost.

Resume-safe: each rung is a phase of the history with its own ``phase_done`` mark; the promoted
list is a pure function of the previous rung's records (ranked by reward, then by index), so a
search killed during a rung and started again continues the same children and skips those done.

Example:
    >>> schedule = FidelitySchedule.from_config({"rungs": [2, 8], "eta": 4})
    >>> schedule.promoted_count(12), schedule.promoted_count(12, at_least=5)
    (3, 5)
    >>> schedule.epochs_per_child_full, schedule.rungs
    (8, (2, 8))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["FidelitySchedule", "child_epochs", "run_rungs", "highest_rung_records"]


@dataclass(frozen=True)
class FidelitySchedule:
    """Successive-halving schedule.

    Attributes:
        rungs: Total epochs a child has trained at each rung, strictly increasing, each >= 1.
        eta: Reduction factor (> 1): ``ceil(n / eta)`` of ``n`` children go up a rung.
        min_promoted: Fewest children promoted to each rung (>= 1).
    """

    rungs: tuple[int, ...]
    eta: float = 3.0
    min_promoted: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> "FidelitySchedule | None":
        """Validate ``search.fidelity`` (``None`` = off). Errors name the key and what is allowed."""
        if config is None:
            return None
        if not isinstance(config, Mapping):
            raise ValueError(f"search.fidelity must be null or a map with rungs, eta, min_promoted; got {config!r}")
        unknown = sorted(set(config) - {"rungs", "eta", "min_promoted"})
        if unknown:
            raise ValueError(f"search.fidelity.{unknown[0]} is not a known key; allowed: ['eta', 'min_promoted', 'rungs']")
        rungs = config.get("rungs")
        if (not isinstance(rungs, Sequence) or isinstance(rungs, str) or not rungs
                or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in rungs)
                or any(b <= a for a, b in zip(rungs, rungs[1:]))):
            raise ValueError(f"search.fidelity.rungs={rungs!r}; must be a list of strictly increasing epoch "
                             "counts >= 1, e.g. [2, 8]")
        eta = config.get("eta", 3.0)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 1:
            raise ValueError(f"search.fidelity.eta={eta!r}; must be a number > 1")
        min_promoted = config.get("min_promoted", 1)
        if isinstance(min_promoted, bool) or not isinstance(min_promoted, int) or min_promoted < 1:
            raise ValueError(f"search.fidelity.min_promoted={min_promoted!r}; must be an integer >= 1")
        return cls(tuple(int(r) for r in rungs), float(eta), int(min_promoted))

    @property
    def epochs_per_child_full(self) -> int:
        """Epochs of a child that reaches the last rung."""
        return self.rungs[-1]

    def promoted_count(self, n: int, at_least: int = 1) -> int:
        """Children of ``n`` that go up one rung: ``ceil(n / eta)``, at least ``max(min_promoted,
        at_least)``, at most ``n``."""
        return min(n, max(math.ceil(n / self.eta - 1e-9), self.min_promoted, at_least))


def child_epochs(records: Sequence[Any]) -> int:
    """Child-epochs a history spent: the sum of ``metrics["epochs"]`` over the records that trained
    (a reused genome, ``train_seconds == 0``, trained nothing)."""
    return int(sum(int((r.metrics or {}).get("epochs", 0)) for r in records if r.train_seconds > 0))


def rung_phase(phase: str, rung: int) -> str:
    """History phase of ``rung`` (rung 0 is ``phase`` itself)."""
    return phase if rung == 0 else f"{phase}/rung{rung}"


def _promotable(records: Sequence[Any]) -> list[Any]:
    """Distinct successful children with weights, best reward first (ties: earlier index first)."""
    best: dict[str, Any] = {}
    for record in sorted(records, key=lambda r: r.index):
        if record.status == "ok" and record.checkpoint_path and record.key not in best:
            best[record.key] = record
    return sorted(best.values(), key=lambda r: (-r.reward, r.index))


def run_rungs(search: Any, phase: str, rung0: Sequence[Any], switches: Any, schedule: FidelitySchedule, *,
              at_least: int = 1) -> dict[str, list[Any]]:
    """Rungs 1, 2, ... of ``phase`` after its rung 0 (``rung0``, the phase's records).

    Args:
        search: The :class:`~lightning_imc.search.loop.Search` (its store, executor, settings, reward).
        phase: Name of rung 0's phase.
        rung0: Its records.
        switches: The phase's mode switches (variation while training, accuracy source, reward).
        schedule: The schedule.
        at_least: Fewest children promoted per rung (e.g. nacim's ``top_k``).

    Returns:
        ``{rung phase: its records}`` for rungs 1, 2, ...
    """
    from .evaluate import ChildJob, child_seed
    from .loop import _record

    out: dict[str, list[Any]] = {}
    previous = list(rung0)
    reward = search._reward_for(switches)
    for rung in range(1, len(schedule.rungs)):
        name = rung_phase(phase, rung)
        if search.store.get_meta(f"phase_done/{name}"):
            previous = out[name] = search.store.records(phase=name)
            continue
        ranked = _promotable(previous)
        promoted = ranked[:schedule.promoted_count(len(ranked), at_least)]
        search.on_phase(name, len(promoted), True)
        done = {record.index: record for record in search.store.records(phase=name)}
        more = schedule.rungs[rung] - schedule.rungs[rung - 1]
        jobs = []
        for index, parent in enumerate(promoted):
            if index in done:
                continue
            checkpoint = str(Path(search.output_dir) / "checkpoints" / name.replace("/", "_") / f"{parent.key}.pt")
            jobs.append((parent, ChildJob(
                config=search.config, phase=name, index=index, candidate=dict(parent.choices),
                seed=child_seed(search.settings.seed, name, index), train_epochs=more,
                variation=switches.variation, accuracy_source=switches.accuracy_source, reward=reward,
                init_checkpoint=parent.checkpoint_path, checkpoint_path=checkpoint, threads=search.threads,
                context_factory=search.context_factory, chance_margin=search.chance_margin,
            )))
        for position, result in (search._run_jobs([job for _, job in jobs]) if jobs else []):
            parent, job = jobs[position]
            record = _record(job, result, parent.key, parent.codes, dict(parent.choices))
            record.metrics = dict(record.metrics, epochs=more, total_epochs=schedule.rungs[rung],
                                  promoted_from=[parent.phase, parent.index])
            search._store(record)
        search.store.set_meta(f"phase_done/{name}", True)
        previous = out[name] = search.store.records(phase=name)
    return out


def highest_rung_records(rung0: Sequence[Any], rungs: Mapping[str, Sequence[Any]]) -> list[Any]:
    """One record per key: the one from the highest rung it reached (rung 0's records otherwise),
    in rung 0's order. What nacim's top-K and a summary should rank."""
    latest: dict[str, Any] = {}
    for records in rungs.values():  # rung 1, 2, ... in order: a later rung replaces an earlier one
        for record in records:
            if record.status == "ok":
                latest[record.key] = record
    out, seen = [], set()
    for record in rung0:
        if record.key in seen:
            continue
        seen.add(record.key)
        out.append(latest.get(record.key, record))
    return out
