"""The co-exploration loop (NACIM section IV): ask → train/evaluate → reward → tell, phase by phase.

The optimizer selector's four switches (architecture, quantization, device, circuit) are the space's
groups: a mode opens some and freezes the others (:data:`MODE_SWITCHES`).

* ``nas`` — architecture; variation-unaware training; reward = accuracy without variation.
* ``quantnas`` — architecture + quantization; variation-unaware (QuantNAS, [41] of the paper).
* ``ptbnas`` — architecture + quantization + device; noise-aware training; reward = accuracy on chips.
* ``rnas`` — quantization + circuit of a fixed architecture and device; no training: the saved
  weights are evaluated with each new quantization; reward = accuracy on chips + hardware.
* ``nacim`` — the paper's order (section IV, V-A): ``ptbnas``; the ``top_k`` architectures by accuracy
  on chips, each fine-tuned noise-aware for ``topk_finetune_epochs`` (phase ``topk_finetune/<rank>``;
  0 reuses the ptbNAS weights); ``rnas`` on each fine-tuned network (``rnas_steps`` proposals starting
  at its specification and exploring its neighbourhood, :mod:`.neighbourhood`); optionally a short
  fine-tuning of the ``finetune_top`` best rNAS designs (phase ``finetune``; 0 skips it).

rNAS transfers weights exactly: child networks scale each layer's weights digitally (max|w| maps to
the format's largest code) and calibrate each layer's input range, so moving trained weights to another
format re-quantizes them and nothing is rescaled — the layer outputs keep their scale, the BatchNorm
statistics stay meaningful, only resolution and noise change. ``rnas_bn_batches`` unlabelled batches
re-estimate the BatchNorm statistics under variation for every rNAS design (the specification too, so
all are judged alike; 0 turns it off).

Durability: every finished child is written to the SQLite history at once; the controller's state is
saved after every ``tell``. A search killed at any point and started again with the same command
restores the controller from its last snapshot, asks it again — it proposes the same batch, since its
randomness is its own — and takes the children already finished from the history: nothing finished is
lost or retrained, and the sequence of candidates is that of an uninterrupted run. The same genome is
never trained twice within a phase (a repeated proposal reuses the first result).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .evaluate import ChildJob, ContextFactory, SearchInputError, child_seed, run_child_job
from .neighbourhood import NeighbourhoodProposer, cost_unit_weights

_log = logging.getLogger(__name__)

__all__ = ["MODE_SWITCHES", "LocalExecutor", "RayExecutor", "make_executor", "Search", "SearchInputError",
           "search_fingerprint", "devices_with_variation"]


@dataclasses.dataclass(frozen=True)
class ModeSwitches:
    """One row of the optimizer selector."""

    groups: tuple[str, ...]
    variation: str
    accuracy_source: str
    hardware_in_reward: bool


MODE_SWITCHES: dict[str, ModeSwitches] = {
    "nas": ModeSwitches(("architecture",), "off", "clean", False),
    "quantnas": ModeSwitches(("architecture", "quantization"), "off", "clean", False),
    "ptbnas": ModeSwitches(("architecture", "quantization", "device"), "train", "variation", False),
    "rnas": ModeSwitches(("quantization", "circuit"), "train", "variation", True),
}


class LocalExecutor:
    """Runs children one after the other in this process."""

    def __init__(self, threads_per_child: int | None = None):
        self.threads_per_child = threads_per_child

    def imap(self, jobs: Sequence[ChildJob]) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(position in jobs, outcome)`` as each child finishes."""
        for position, job in enumerate(jobs):
            yield position, run_child_job(job)

    def close(self) -> None:
        pass


class RayExecutor:
    """Runs a batch of children at once on Ray (a local Ray, or a cluster at ``address``).

    Every child reserves ``cpus_per_child`` CPUs and ``gpus_per_child`` GPUs; its seed depends only on
    its phase and position, so results do not depend on which worker ran it.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_child: float = 1.0,
                 gpus_per_child: float = 0.0):
        import os

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # Under `uv run`, Ray would start its workers through `uv run` from their own working folder,
        # outside this project's environment ("No module named 'ray'"): let them use this interpreter.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus, **kwargs)
        self._ray = ray
        self._remote = ray.remote(run_child_job).options(num_cpus=cpus_per_child, num_gpus=gpus_per_child,
                                                         max_retries=0)

    def imap(self, jobs: Sequence[ChildJob]) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(position in jobs, outcome)`` as each child finishes (in completion order)."""
        pending = {self._remote.remote(job): position for position, job in enumerate(jobs)}
        while pending:
            ready, _ = self._ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), self._ray.get(ref)

    def close(self) -> None:
        self._ray.shutdown()


def make_executor(settings: Any) -> Any:
    """The executor the settings ask for."""
    executor = settings.executor
    if executor.kind == "ray":
        return RayExecutor(executor.address, executor.num_cpus, executor.cpus_per_child, executor.gpus_per_child)
    return LocalExecutor(executor.threads_per_child)


def child_threads(executor: Any) -> int:
    """Torch CPU threads of every child: ``threads_per_child``, else ``cpus_per_child`` on Ray, else this
    process's count now. Fixed per search (part of its fingerprint): the thread count changes the
    floating-point sums, hence a child's result."""
    if executor.threads_per_child is not None:
        return int(executor.threads_per_child)
    if executor.kind == "ray":
        return max(1, int(executor.cpus_per_child))
    import torch

    return int(torch.get_num_threads())


#: Settings added after histories were written (``section.key``), with the value that means "as before they
#: existed": at that value they are left out of the fingerprint, so older histories still resume, and a
#: history without the key goes on with that value (``hardware.chip_model``: histories written before chip
#: model III keep model II's figures).
ADDED_SETTINGS: dict[str, Any] = {"search.rnas_cost_share": 0.0, "search.rnas_moves": "random",
                                  "search.warm_start": None, "hardware.chip_model": "II"}


def settings_of_older_history(stored: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings a resumed history must keep although the current configuration says otherwise.

    A history whose fingerprint lacks a key of :data:`ADDED_SETTINGS` was searched with that key's "as
    before" value (it is left out of the fingerprint there): when the configuration now asks for another
    value (e.g. the default changed, as ``search.rnas_moves`` did to ``cost_descent`` and
    ``hardware.chip_model`` to ``III``), resuming means going on with the old one. Returns
    ``{"section.key": value to use}`` (empty for a new or an up-to-date history).

    >>> settings_of_older_history({"search": {"mode": "nacim"}}, {"search": {"rnas_moves": "cost_descent"}})
    {'search.rnas_moves': 'random'}
    >>> settings_of_older_history({"search": {"rnas_moves": "cost_descent"}}, {"search": {"rnas_moves": "cost_descent"}})
    {}
    >>> settings_of_older_history({"hardware": {"preset": "nacim"}}, {"hardware": {"chip_model": "III"}})
    {'hardware.chip_model': 'II'}
    """
    keep = {}
    for dotted, before in ADDED_SETTINGS.items():
        section, key = dotted.split(".")
        stored_section = dict(stored.get(section) or {})
        wanted = dict(config.get(section) or {})
        if key not in stored_section and key in wanted and wanted[key] != before:
            keep[dotted] = before
    return keep


def search_fingerprint(config: Mapping[str, Any], threads: int | None = None) -> dict[str, Any]:
    """What identifies a search: the resolved config without paths, logging, executor and resume flag,
    plus what changes a child's result without being a setting of the search (``reproducibility``:
    the children's torch thread count; precision and deterministic kernels are ``trainer`` settings).
    A resume under other values is refused (:class:`~lightning_imc.search.history.HistoryMismatchError`)."""
    ignored = {"paths", "logger", "executor", "notes"}
    fingerprint = {k: v for k, v in config.items() if k not in ignored}
    if threads is not None:
        fingerprint["reproducibility"] = {"threads_per_child": int(threads)}
    trainer = dict(fingerprint.get("trainer") or {})
    trainer.pop("enable_progress_bar", None)
    fingerprint["trainer"] = trainer
    search = dict(fingerprint.get("search") or {})
    search.pop("resume", None)
    fingerprint["search"] = search
    for dotted, before in ADDED_SETTINGS.items():  # at their "before" value, the search they describe is unchanged
        section, key = dotted.split(".")
        if isinstance(fingerprint.get(section), Mapping) and key in fingerprint[section] and fingerprint[section][key] == before:
            fingerprint[section] = {k: v for k, v in fingerprint[section].items() if k != key}
    return json.loads(json.dumps(fingerprint, sort_keys=True, default=str))


class Search:
    """One search: its configuration, space, controller factory, executor and history.

    Args:
        config: The resolved application configuration (plain dict).
        settings: Its validated :class:`~lightning_imc.settings.Settings`.
        space: The full search space.
        store: The open history.
        executor: A :class:`LocalExecutor` or :class:`RayExecutor`.
        reward: Reward settings as a plain dict with bounds (see :class:`ChildJob`).
        on_record: Called with every new record (logging).
        on_phase: Called as a phase starts evaluating, with its name, its number of children and whether
            it is a promotion rung of a multi-fidelity search (a phase beyond the mode's plan).
        context_factory: Builds a child's settings, space and data from ``config`` (handed to every
            :class:`ChildJob`; the application's ``child_context``).
        candidate: The fixed candidate of ``mode=rnas`` (``None``: the space's default candidate).
        hardware_of: The hardware metrics (``latency_s``, ``energy_j``, ``area_mm2``, ...) of a candidate by
            the chip model alone, without training (the application's
            :meth:`~lightning_imc.callbacks.HardwareMetricsCallback.design_metrics`); rNAS orders its
            moves by it with ``search.rnas_moves=cost_descent``.
    """

    def __init__(self, config: Mapping[str, Any], settings: Any, space: Any, store: Any, executor: Any,
                 reward: Mapping[str, Any], on_record: Callable[[Any], None] | None = None, *,
                 context_factory: ContextFactory | None = None, candidate: Any = None,
                 on_phase: Callable[[str, int, bool], None] | None = None,
                 hardware_of: Callable[[Mapping[str, Any]], Mapping[str, float]] | None = None):
        self.config = dict(config)
        self.hardware_of = hardware_of
        self.context_factory = context_factory
        self.candidate = candidate
        self.settings = settings
        self.space = space
        self.store = store
        self.executor = executor
        self.reward = dict(reward)
        self.on_record = on_record or (lambda record: None)
        self.on_phase = on_phase or (lambda phase, size, promotion: None)
        self.output_dir = Path(settings.output_dir)
        epochs = settings.search.train_epochs
        self.train_epochs = int(settings.trainer.get("max_epochs", 1) if epochs is None else epochs)
        self.threads = child_threads(settings.executor)
        self.chance_margin = getattr(settings.search, "chance_margin", None)
        from .fidelity import FidelitySchedule

        self.fidelity = FidelitySchedule.from_config(getattr(settings.search, "fidelity", None))

    # -- one phase ----------------------------------------------------------------------------------
    def _reward_for(self, switches: ModeSwitches) -> dict[str, Any]:
        reward = dict(self.reward)
        if not switches.hardware_in_reward:
            reward["alpha"] = 1.0
        elif self.settings.search.reward_alpha is not None:
            reward["alpha"] = float(self.settings.search.reward_alpha)
        return reward

    def _controller(self, phase: str, space: Any, switches: ModeSwitches | None = None) -> Any:
        from ..controllers import controller_hyperparameters, get_controller
        from ..controllers.base import controller_class

        name = self.settings.controller["name"]
        params = {k: v for k, v in self.settings.controller.items() if k != "name"}
        if "batch_size" in controller_hyperparameters(name):  # REINFORCE's m: one update per batch of proposals
            params["batch_size"] = self.settings.search.batch_size
        if "exact_part" in controller_class(name).runtime_arguments and switches is not None:
            params["exact_part"] = self._exact_part(space, switches)  # the surrogate: the chip model's share
        return get_controller(name, cardinalities=list(space.cardinalities),
                              seed=child_seed(self.settings.seed, phase, -1), **params)

    def _exact_part(self, space: Any, switches: ModeSwitches) -> Callable[[Sequence[int]], Any] | None:
        """Codes of ``space`` → the reward's exact part by the chip model alone (``ExactPart(offset = (1 − α)·F,
        weight = α)``), or ``None`` where the chip model rules the design out (no circuit meets
        ``hardware.constraints``). ``None`` (no function) when the phase's reward has no hardware and no
        constraint is set: the chip model would then tell the controller nothing."""
        from ..controllers.surrogate import ExactPart
        from ..reward import compute_reward
        from .evaluate import reward_config_from_dict

        config = reward_config_from_dict(self._reward_for(switches))
        if self.hardware_of is None or (config.alpha >= 1 and not self.settings.hardware.constraints):
            return None
        hardware_of = self.hardware_of

        def exact(codes: Sequence[int]) -> ExactPart | None:
            try:
                hardware = hardware_of(space.decode(list(codes)).to_dict())
            except ValueError:  # e.g. no circuit of hardware.circuit_space satisfies hardware.constraints
                return None
            return ExactPart(compute_reward(0.0, hardware, config).reward, config.alpha)

        return exact

    def _warm_start(self, controller: Any, phase: str, space: Any, failed_reward: float) -> None:
        """``search.warm_start``: seed ``controller`` with the earlier history's results of ``phase`` (those
        whose choices are points of ``space``; a failed child with the floor reward, as it was told)."""
        path = self.settings.search.warm_start
        if not path:
            return
        from .history import HistoryStore

        file = Path(path) / "history.sqlite" if Path(path).is_dir() else Path(path)
        store = HistoryStore.open_readonly(file)
        try:
            records = store.records(phase=phase)
        finally:
            store.close()
        codes, rewards = [], []
        for record in records:
            choices = {k: v for k, v in record.choices.items() if k in space.names}
            try:
                code = space.encode(space.canonical(choices | space.fixed))
            except (ValueError, KeyError):  # another space: not a point of this one
                continue
            codes.append(code)
            rewards.append(_finite(record.reward, failed_reward))
        if codes:
            controller.seed_population(codes, rewards)

    def run_phase(self, phase: str, space: Any, switches: ModeSwitches, episodes: int, *, train_epochs: int,
                  init_checkpoint: str | None = None, initial_codes: Sequence[int] | None = None,
                  proposer: NeighbourhoodProposer | None = None, extra: Mapping[str, Any] | None = None) -> list[Any]:
        """Ask/evaluate/tell ``episodes`` proposals of ``space``; returns the phase's records.

        With ``proposer``, it makes each batch (mixing its mutations with the controller's proposals);
        ``extra`` is passed to every child job.
        """
        if self.store.get_meta(f"phase_done/{phase}"):
            return self.store.records(phase=phase)
        self.on_phase(phase, episodes, False)
        controller = self._controller(phase, space, switches)
        self._warm_start(controller, phase, space, self._reward_for(switches)["failed_reward"])
        done = {record.index: record for record in self.store.records(phase=phase)}
        by_key = {record.key: record for record in done.values()}
        snapshot = self.store.load_state(phase)
        step = 0
        if snapshot is not None:
            step, state = snapshot
            controller.load_state_dict(state)
        batch = self.settings.search.batch_size
        index = min(step * batch, episodes)
        reward = self._reward_for(switches)
        while index < episodes:
            n = min(batch, episodes - index)
            if proposer is not None:
                told = [(done[i].codes, _finite(done[i].reward, reward["failed_reward"])) for i in sorted(done) if i < index]
                codes = proposer.ask(step, n, told, controller.ask)
            elif index == 0 and initial_codes is not None:
                # "the controller starts from the specifications provided by the previous search step":
                # the first proposal is that specification itself, evaluated and told like any other
                codes = [list(initial_codes)] + (controller.ask(n - 1) if n > 1 else [])
            else:
                codes = controller.ask(n)
            candidates = [space.decode(c) for c in codes]
            outcomes: dict[int, Any] = {}
            jobs: list[tuple[int, ChildJob]] = []
            first_in_batch: dict[str, int] = {}
            duplicates: dict[int, int] = {}
            for offset, (code, candidate) in enumerate(zip(codes, candidates)):
                slot = index + offset
                if slot in done:
                    outcomes[offset] = done[slot]
                    continue
                if candidate.key in by_key:  # the same genome: reuse, never retrain
                    outcomes[offset] = self._store(self._copy(by_key[candidate.key], slot, code))
                    continue
                if candidate.key in first_in_batch:  # repeated within this batch: wait for the first
                    duplicates[offset] = first_in_batch[candidate.key]
                    continue
                first_in_batch[candidate.key] = offset
                seed = child_seed(self.settings.seed, phase, slot)
                checkpoint = None
                if train_epochs > 0:
                    checkpoint = str(self.output_dir / "checkpoints" / phase.replace("/", "_") / f"{candidate.key}.pt")
                jobs.append((offset, ChildJob(
                    config=self.config, phase=phase, index=slot, candidate=candidate.to_dict(), seed=seed,
                    train_epochs=train_epochs, variation=switches.variation, accuracy_source=switches.accuracy_source,
                    reward=reward, init_checkpoint=init_checkpoint, checkpoint_path=checkpoint, threads=self.threads,
                    context_factory=self.context_factory, chance_margin=self.chance_margin,
                    extra=dict(extra or {}),
                )))
            for position, result in (self._run_jobs([job for _, job in jobs]) if jobs else []):
                offset, job = jobs[position]  # recorded the moment it finishes: a crash loses nothing done
                outcomes[offset] = self._store(_record(job, result, candidates[offset].key, codes[offset],
                                                       candidates[offset].to_dict()))
            for offset, first in sorted(duplicates.items()):
                outcomes[offset] = self._store(self._copy(outcomes[first], index + offset, codes[offset]))
            ordered = [outcomes[offset] for offset in range(n)]
            for record in ordered:
                done[record.index] = record
                by_key.setdefault(record.key, record)
            objectives = None
            if getattr(controller, "multi_objective", False):  # e.g. nsga2: the named metrics, no weighted reward
                from .pareto import objective_vectors

                objectives = objective_vectors(ordered, controller.objective_names)
            controller.tell([list(c) for c in codes], [_finite(r.reward, reward["failed_reward"]) for r in ordered],
                            objectives)
            step += 1
            self.store.save_state(phase, step, controller.state_dict())
            index += n
        self.store.set_meta(f"phase_done/{phase}", True)
        return self.store.records(phase=phase)

    @staticmethod
    def _copy(source: Any, slot: int, code: Sequence[int]) -> Any:
        """A record of an already evaluated genome at another slot (no training, no evaluation)."""
        now = time.time()
        return dataclasses.replace(source, index=slot, codes=list(code), started_at=now, finished_at=now,
                                   train_seconds=0.0)

    # -- saved weights: a cache the history can rebuild ---------------------------------------------------
    def _run_jobs(self, jobs: Sequence[ChildJob]) -> Iterator[tuple[int, Mapping[str, Any]]]:
        """``executor.imap`` over ``jobs``, after making sure the weights each starts from are on disk
        (moved with the search folder, or retrained from the history: :meth:`weights_at`); each finished
        job's settings are kept (meta ``job/<phase>/<index>``) so that its weights can be rebuilt later."""
        jobs = [dataclasses.replace(job, init_checkpoint=self.weights_at(job.init_checkpoint)) for job in jobs]
        for position, result in self.executor.imap(list(jobs)):
            job = jobs[position]
            if job.checkpoint_path and job.train_epochs > 0:
                self.store.set_meta(f"job/{job.phase}/{job.index}", {
                    "variation": job.variation, "accuracy_source": job.accuracy_source, "reward": dict(job.reward),
                    "init_checkpoint": job.init_checkpoint, "extra": dict(job.extra)})
            yield position, result

    def weights_at(self, path: str | None) -> str | None:
        """Where the saved weights ``path`` (as a record stored it) are now.

        A search folder moved to another place (a new checkout) keeps its files under
        ``<output_dir>/checkpoints/<phase>/<key>.pt``; weights that are gone (checkpoints are not kept in
        git, a disk was cleaned) are trained again from the history: the record that wrote them, with the
        same seed, epochs and settings, from its own starting weights (rebuilt first if they are gone too).
        The rebuilt child's reward is compared with the recorded one and both are kept (meta
        ``rebuilt/<phase>/<index>``); the record itself is not changed.

        Raises:
            SearchInputError: the weights are gone and the history has no job to train them from (written
                before this was kept) or training them again failed.
        """
        if path is None or Path(path).is_file():
            return path
        tail = (Path(path).parent.name, Path(path).name)  # <phase>/<key>.pt under the search's checkpoints/
        moved = self.output_dir / "checkpoints" / tail[0] / tail[1]
        if moved.is_file():
            return str(moved)
        maker = next((r for r in self.store.records(status="ok") if r.checkpoint_path
                      and (Path(r.checkpoint_path).parent.name, Path(r.checkpoint_path).name) == tail
                      and int(r.metrics.get("epochs", 0)) > 0), None)
        spec = None if maker is None else self.store.get_meta(f"job/{maker.phase}/{maker.index}")
        if spec is None and maker is not None and maker.phase in MODE_SWITCHES:
            # a child of a search's first phase, recorded before jobs were kept: trained from scratch with the
            # phase's switches and reward, nothing else
            switches = MODE_SWITCHES[maker.phase]
            spec = {"variation": switches.variation, "accuracy_source": switches.accuracy_source,
                    "reward": self._reward_for(switches), "init_checkpoint": None, "extra": {}}
        if maker is None or spec is None:
            raise SearchInputError(
                f"the saved weights {path} are gone and this history cannot train them again (no record of the job "
                f"that wrote them: a later phase's child recorded before lightning-imc kept its jobs); put the file back at "
                f"{moved}, or start the search in a new folder (paths.output_dir)")
        job = ChildJob(
            config=self.config, phase=maker.phase, index=maker.index, candidate=dict(maker.choices), seed=maker.seed,
            train_epochs=int(maker.metrics["epochs"]), variation=spec["variation"],
            accuracy_source=spec["accuracy_source"], reward=spec["reward"],
            init_checkpoint=self.weights_at(spec["init_checkpoint"]), checkpoint_path=str(moved),
            threads=self.threads, extra=spec["extra"], context_factory=self.context_factory,
            chance_margin=self.chance_margin)
        _log.info("the weights of %s #%d (%s) are gone: training it again from the history", maker.phase,
                  maker.index, maker.key[:12])
        (_, result), = list(self.executor.imap([job]))
        if result["status"] != "ok" or not moved.is_file():
            raise SearchInputError(f"training {maker.phase} #{maker.index} again to rebuild {path} failed: "
                                   f"{result.get('error')}")
        rebuilt = float(result["reward"])
        self.store.set_meta(f"rebuilt/{maker.phase}/{maker.index}", {"reward_recorded": maker.reward,
                                                                      "reward_rebuilt": rebuilt})
        if abs(rebuilt - maker.reward) > 1e-9:
            _log.warning("%s #%d trained again scores reward %.6f, the history %.6f (another machine's kernels): "
                         "the phases after it start from the new weights", maker.phase, maker.index, rebuilt,
                         maker.reward)
        return str(moved)

    def _store(self, record: Any) -> Any:
        stored = self.store.record(record)
        self.on_record(stored if stored is not None else record)
        return stored if stored is not None else record

    def _training_phase(self, phase: str, space: Any, switches: ModeSwitches, episodes: int,
                        at_least: int = 1) -> tuple[list[Any], dict[str, list[Any]]]:
        """A phase that trains its children: at full fidelity, or rung 0 then the promotion rungs
        (``search.fidelity``, see :mod:`~lightning_imc.search.fidelity`)."""
        if self.fidelity is None:
            return self.run_phase(phase, space, switches, episodes, train_epochs=self.train_epochs), {}
        from .fidelity import run_rungs

        records = self.run_phase(phase, space, switches, episodes, train_epochs=self.fidelity.rungs[0])
        return records, run_rungs(self, phase, records, switches, self.fidelity, at_least=at_least)

    # -- the modes -----------------------------------------------------------------------------------
    def run(self) -> dict[str, list[Any]]:
        """Run the configured mode to the end; returns the records of each phase."""
        mode = self.settings.search.mode
        search = self.settings.search
        if mode in ("nas", "quantnas", "ptbnas"):
            switches = MODE_SWITCHES[mode]
            space = self._phase_space(switches)
            at_least = search.top_k if search.finetune_baselines else 1
            records, rungs = self._training_phase(mode, space, switches, search.episodes, at_least=at_least)
            phases = {mode: records, **rungs}
            if search.finetune_baselines and search.topk_finetune_epochs > 0:
                phases.update(self._finetune_top_k(phases, mode, rungs, switches))
            return phases
        if mode == "rnas":
            return {"rnas": self._rnas_for(self._candidate_from_config(), search.rnas_checkpoint, "rnas",
                                           search.episodes)}
        return self._nacim()

    def _phase_space(self, switches: ModeSwitches) -> Any:
        """The space of a phase: its groups open; without hardware in the reward, only devices with variation.

        A variation-free device (SRAM) is judged on its cost, which an accuracy-only reward does not
        see: there it would win by having no variation at all, and "accuracy on chips" would stop
        meaning anything. It is searched only where the reward counts hardware (rNAS, NACIM's second
        phase) or when the configuration fixes the device.
        """
        space = self.space.select_groups(switches.groups)
        if switches.hardware_in_reward or "device" not in space.names:
            return space
        return space.narrow("device", devices_with_variation(space.dimension("device").choices, self.settings.imc))

    def _candidate_from_config(self) -> Any:
        return self.space.default_candidate() if self.candidate is None else self.candidate

    def _rnas_for(self, candidate: Any, checkpoint: str | None, phase: str, steps: int,
                  layer_shares: Sequence[float] | None = None) -> list[Any]:
        """rNAS around ``candidate`` on its saved weights; ``layer_shares``: its layers' shares of the chip
        cost (its record's ``layer_cost_shares``), which steer ``search.rnas_cost_share`` of the mutations."""
        if self.store.get_meta(f"phase_done/{phase}"):
            return self.store.records(phase=phase)
        if checkpoint and phase != "rnas":  # a top-K design's weights, moved or rebuilt with the search folder
            checkpoint = self.weights_at(checkpoint)
        if not checkpoint or not Path(checkpoint).is_file():
            raise SearchInputError(f"search.rnas_checkpoint={checkpoint!r}: rNAS evaluates saved weights; give the "
                                   "state_dict file of the candidate's trained network")
        switches = MODE_SWITCHES["rnas"]
        space = self.space.select_groups(switches.groups, defaults=candidate)
        initial = space.encode(space.canonical({k: v for k, v in candidate.items() if k in space.names} | space.fixed))
        search = self.settings.search
        descent = search.rnas_moves == "cost_descent"
        proposer = NeighbourhoodProposer(space, initial, share=float(search.rnas_neighbourhood_share),
                                         max_units=int(search.rnas_mutation_units),
                                         seed=child_seed(self.settings.seed, phase, -2),
                                         unit_weights=cost_unit_weights(space, layer_shares, float(search.rnas_cost_share)),
                                         moves=search.rnas_moves,
                                         cost=self._hardware_efficiency(space, switches) if descent else None)
        extra = {"input_calibration_batches": int(search.rnas_input_calibration_batches)}
        if search.rnas_bn_batches:
            extra["bn_reestimate_batches"] = int(search.rnas_bn_batches)
        return self.run_phase(phase, space, switches, steps, train_epochs=0, init_checkpoint=checkpoint,
                              initial_codes=initial, proposer=proposer, extra=extra)

    def _hardware_efficiency(self, space: Any, switches: ModeSwitches) -> Callable[[Sequence[int]], float]:
        """Codes of ``space`` → the reward's hardware term ``F`` (higher is cheaper) by the chip model alone."""
        if self.hardware_of is None:
            raise SearchInputError("search.rnas_moves=cost_descent orders rNAS moves by the chip model, but this "
                                   "Search was built without hardware_of (the application passes it)")
        from ..reward import compute_reward
        from .evaluate import reward_config_from_dict

        config = reward_config_from_dict(self._reward_for(switches))
        hardware_of = self.hardware_of

        def efficiency(codes: Sequence[int]) -> float:
            return compute_reward(0.0, hardware_of(space.decode(list(codes)).to_dict()), config).hardware_efficiency

        return efficiency

    def _nacim(self) -> dict[str, list[Any]]:
        search = self.settings.search
        phases: dict[str, list[Any]] = {}
        switches = MODE_SWITCHES["ptbnas"]
        ptb_space = self._phase_space(switches)
        phases["ptbnas"], rungs = self._training_phase("ptbnas", ptb_space, switches, search.episodes,
                                                       at_least=search.top_k)
        phases.update(rungs)
        from .fidelity import highest_rung_records

        top = top_architectures(highest_rung_records(phases["ptbnas"], rungs), self.space, search.top_k)
        self.store.set_meta("nacim/top_k", [record.key for record in top])
        for rank, record in enumerate(top):
            candidate = self.space.canonical(record.choices)
            checkpoint, parent = record.checkpoint_path, record
            if search.topk_finetune_epochs > 0:  # the paper fine-tunes its top-K before rNAS (section V-A)
                tuned = self._finetune([record], f"topk_finetune/{rank}", search.topk_finetune_epochs,
                                       MODE_SWITCHES["ptbnas"])
                phases[f"topk_finetune/{rank}"] = tuned
                ok = [r for r in tuned if r.status == "ok" and r.checkpoint_path]
                if ok:  # rNAS starts from the fine-tuned weights and their chip's cost shares
                    checkpoint, parent = ok[0].checkpoint_path, ok[0]
            phase = f"rnas/{rank}"
            phases[phase] = self._rnas_for(candidate, checkpoint, phase, search.rnas_steps,
                                           layer_shares=parent.metrics.get("layer_cost_shares"))
        designs = sorted((r for p, rs in phases.items() if p.startswith("rnas/") for r in rs if r.status == "ok"),
                         key=lambda r: -r.reward)
        chosen: list[Any] = []
        for record in designs if search.finetune_top > 0 else []:  # the best designs, one per key (0: none)
            if record.key not in {c.key for c in chosen}:
                chosen.append(record)
            if len(chosen) == search.finetune_top:
                break
        if chosen:
            phases["finetune"] = self._finetune(chosen, "finetune", search.finetune_epochs, MODE_SWITCHES["rnas"])
        return phases

    def _finetune_top_k(self, phases: Mapping[str, list[Any]], mode: str, rungs: Mapping[str, list[Any]],
                        switches: ModeSwitches) -> dict[str, list[Any]]:
        """``search.finetune_baselines``: a baseline's top-K architectures (by its own reward) trained
        ``topk_finetune_epochs`` more, as NACIM does before rNAS, so every method of Table II spends the
        same child-epochs (phases ``topk_finetune/<rank>``; QuantNAS's stay variation-unaware)."""
        from .fidelity import highest_rung_records

        search = self.settings.search
        top = top_architectures(highest_rung_records(phases[mode], rungs), self.space, search.top_k, by="reward")
        self.store.set_meta(f"{mode}/top_k", [record.key for record in top])
        return {f"topk_finetune/{rank}": self._finetune([record], f"topk_finetune/{rank}", search.topk_finetune_epochs,
                                                        switches)
                for rank, record in enumerate(top)}

    def _finetune(self, designs: Sequence[Any], phase: str, epochs: int, switches: ModeSwitches) -> list[Any]:
        """Train ``designs`` further (from their saved weights, with their quantization), noise-aware
        unless ``switches`` trains without variation (QuantNAS, NAS).

        ``switches`` sets the reward: ptbNAS's (accuracy) before rNAS, rNAS's (with hardware) after it.
        """
        if self.store.get_meta(f"phase_done/{phase}"):
            return self.store.records(phase=phase)
        self.on_phase(phase, len(designs), False)
        done = {record.index: record for record in self.store.records(phase=phase)}
        reward = self._reward_for(switches)
        jobs = []
        for index, design in enumerate(designs):
            if index in done:
                continue
            seed = child_seed(self.settings.seed, phase, index)
            checkpoint = str(self.output_dir / "checkpoints" / phase.replace("/", "_") / f"{design.key}.pt")
            jobs.append((index, design, ChildJob(
                config=self.config, phase=phase, index=index, candidate=design.choices, seed=seed,
                train_epochs=epochs, variation=switches.variation, accuracy_source=switches.accuracy_source, reward=reward,
                init_checkpoint=design.checkpoint_path, checkpoint_path=checkpoint if epochs > 0 else None,
                threads=self.threads, context_factory=self.context_factory, chance_margin=self.chance_margin,
            )))
        for position, result in (self._run_jobs([job for _, _, job in jobs]) if jobs else []):
            _, design, job = jobs[position]
            self._store(_record(job, result, design.key, design.codes, dict(design.choices)))
        self.store.set_meta(f"phase_done/{phase}", True)
        return self.store.records(phase=phase)


def _record(job: ChildJob, result: Mapping[str, Any], key: str, codes: Sequence[int], choices: Mapping[str, Any]) -> Any:
    """The history record of a finished child job."""
    from .history import CandidateRecord

    return CandidateRecord(
        phase=job.phase, index=job.index, key=key, codes=list(codes), choices=dict(choices),
        status=result["status"], reward=float(result["reward"]),
        metrics={**result.get("metrics", {}), "epochs": job.train_epochs}, seed=job.seed,
        started_at=result["started_at"], finished_at=result["finished_at"],
        train_seconds=float(result.get("train_seconds", 0.0)), checkpoint_path=result.get("checkpoint_path"),
        error=result.get("error"),
    )


def top_architectures(records: Sequence[Any], space: Any, k: int, by: str = "accuracy_variation") -> list[Any]:
    """The ``k`` best successful records, one per architecture, by ``by``: a metric's name (default:
    accuracy on chips) or ``"reward"`` (what the phase's search itself ranked by)."""
    arch = space.all_groups.get("architecture", [])
    seen: set[str] = set()
    chosen = []

    def score(record: Any) -> float:
        return float(record.reward if by == "reward" else record.metrics.get(by, -1.0))

    ranked = sorted((r for r in records if r.status == "ok" and r.checkpoint_path), key=lambda r: -score(r))
    for record in ranked:
        signature = json.dumps({name: record.choices.get(name) for name in arch}, sort_keys=True, default=str)
        if signature in seen:
            continue
        seen.add(signature)
        chosen.append(record)
        if len(chosen) == k:
            break
    return chosen


def devices_with_variation(names: Sequence[str], imc: Any) -> list[str]:
    """The devices among ``names`` whose cells vary (σ > 0 level, or an ``imc.sigma_levels`` override > 0).

    Raises:
        ConfigError-like ``ValueError``: none of them varies (an accuracy-only search needs variation).
    """
    from ..devices import get_device

    override = getattr(imc, "sigma_levels", None)
    relative = getattr(imc, "variation_model", "bit_sliced") == "relative" and getattr(imc, "relative_sigma", 0) > 0
    kept = [n for n in names if relative or (override if override is not None else get_device(n).sigma_levels) > 0]
    if not kept:
        raise ValueError(f"space.device choices {list(names)} have no variation; an accuracy-only search "
                         "(ptbnas) needs a device with variation, or fix the device (+space.fixed.device=<name>)")
    return kept


def _finite(value: float, floor: float) -> float:
    return float(value) if math.isfinite(value) else float(floor)
