"""Abstract ask/tell controller, input validation, state encoding helpers and the name registry.

A controller searches a space of ``D`` categorical dimensions given only their
``cardinalities``; a proposal ("codes") is a list of ``D`` ints with
``0 <= codes[i] < cardinalities[i]``.  It knows nothing about networks, hardware or Lightning,
so the same controller runs on a tabular benchmark or a synthetic landscape.

Contract:

* ``ask(n)`` returns ``n`` proposals.
* ``tell(codes, rewards)`` reports evaluated proposals, in any order and possibly fewer than
  asked (a failed candidate is told by the search loop with a finite floor reward).  Codes
  that were never asked (e.g. from a previous search step) are accepted too.
* ``state_dict()`` returns a JSON-serialisable dict; ``load_state_dict`` on a controller built
  with the same name, cardinalities, seed and hyperparameters restores it exactly: the
  restored controller asks the same proposals and reacts to the same tells identically.
* All randomness comes from generators owned by the controller (``random.Random``,
  ``torch.Generator``), never from the global RNGs.
"""

from __future__ import annotations

import base64
import inspect
import itertools
import math
import operator
import random
from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence, TypeVar, overload

import torch

STATE_VERSION = 1

__all__ = [
    "Controller",
    "controller_hyperparameters",
    "controller_names",
    "get_controller",
    "register_controller",
]


def _check_cardinalities(cardinalities: Sequence[int]) -> list[int]:
    try:
        cards = [operator.index(c) for c in cardinalities]
    except TypeError as err:
        raise ValueError(f"cardinalities must be a sequence of ints, got {cardinalities!r}") from err
    if not cards:
        raise ValueError("cardinalities must name at least one dimension")
    for i, c in enumerate(cards):
        if c < 1:
            raise ValueError(f"cardinalities[{i}] = {c} must be >= 1")
    return cards


class Controller(ABC):
    """Ask/tell optimiser over a product of categorical dimensions.

    Subclasses implement :meth:`_ask`, :meth:`_tell` and the ``_extra_state`` /
    ``_load_extra_state`` pair; this base validates inputs, tracks the best result and
    wraps the common parts of the state.

    Args:
        cardinalities: Number of choices of each dimension (each >= 1).
        seed: Seed of the controller's own generators.

    Attributes:
        name: Registry name of the controller class.
        cardinalities: Number of choices per dimension.
        seed: The seed the controller was built with.
    """

    name: str = "base"
    runtime_arguments: tuple[str, ...] = ()
    """Keyword arguments of the constructor that are no hyperparameters: objects the search hands down at
    run time (e.g. the surrogate's ``exact_part`` function), never in a configuration or the state."""
    multi_objective: bool = False
    """Whether :meth:`tell`'s objective vectors steer the search (then :meth:`_tell_objectives` gets them)."""

    def __init__(self, cardinalities: Sequence[int], seed: int = 0) -> None:
        self.cardinalities: list[int] = _check_cardinalities(cardinalities)
        try:
            self.seed: int = operator.index(seed)
        except TypeError as err:
            raise ValueError(f"seed must be an int, got {seed!r}") from err
        self._best: tuple[list[int], float] | None = None
        self._num_told = 0

    # ------------------------------------------------------------------ public API
    @property
    def num_dimensions(self) -> int:
        """Number of dimensions ``D`` of the space."""
        return len(self.cardinalities)

    @property
    def space_size(self) -> int:
        """Number of distinct proposals (product of the cardinalities)."""
        return math.prod(self.cardinalities)

    @property
    def num_told(self) -> int:
        """Number of results told so far (seeded ones included)."""
        return self._num_told

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's hyperparameters (JSON-compatible), without cardinalities and seed."""
        return {}

    def ask(self, n: int = 1) -> list[list[int]]:
        """Propose ``n`` codes.

        Args:
            n: Number of proposals (>= 0).

        Returns:
            ``n`` lists of ints, ``codes[i]`` in ``[0, cardinalities[i])``.

        Raises:
            ValueError: If ``n`` is not a non-negative int.
        """
        try:
            n = operator.index(n)
        except TypeError as err:
            raise ValueError(f"n must be an int, got {n!r}") from err
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return []
        return self._ask(n)

    def tell(
        self,
        codes: Sequence[Sequence[int]],
        rewards: Sequence[float],
        objectives: Sequence[Sequence[float] | None] | None = None,
    ) -> None:
        """Report the rewards of evaluated codes (any order; fewer than asked is fine).

        Args:
            codes: Evaluated proposals.
            rewards: One finite reward per proposal (higher is better).
            objectives: Optional, one vector of :attr:`num_objectives` finite values per proposal
                (or ``None`` for a failed one), in the senses of :attr:`directions`. Only
                multi-objective controllers use them; the others ignore them. A multi-objective
                controller told no objectives uses ``[reward]`` when it has a single objective.

        Raises:
            ValueError: On a length mismatch, a code of the wrong length or out of range,
                a NaN/infinite reward, or an objective vector of the wrong length or not finite.
        """
        checked_codes, checked_rewards = self._validate(codes, rewards)
        checked_objectives = self._validate_objectives(objectives, checked_rewards)
        if not checked_codes:
            return
        self._record(checked_codes, checked_rewards)
        if self.multi_objective:
            self._tell_objectives(checked_codes, checked_rewards, checked_objectives)
        else:
            self._tell(checked_codes, checked_rewards)

    @property
    def num_objectives(self) -> int:
        """Number of objectives a multi-objective controller optimises (1 for the others: the reward)."""
        return len(self.directions)

    @property
    def directions(self) -> list[str]:
        """``"maximize"``/``"minimize"`` per objective; ``["maximize"]`` (the reward) by default."""
        return ["maximize"]

    @property
    def objective_names(self) -> list[str]:
        """Labels of the objectives (opaque to the controller; the search loop reads them as metric names)."""
        return ["reward"]

    def _validate_objectives(
        self, objectives: Sequence[Sequence[float] | None] | None, rewards: list[float]
    ) -> list[list[float] | None]:
        if objectives is None:
            if self.multi_objective and self.num_objectives != 1:
                raise ValueError(
                    f"controller {self.name!r} optimises {self.num_objectives} objectives "
                    f"({', '.join(self.objective_names)}); tell them with objectives=[[...], ...], or build it "
                    "with objectives=['reward'], directions=['maximize'] for a single-objective search"
                )
            return [[r] for r in rewards]
        objectives = list(objectives)
        if len(objectives) != len(rewards):
            raise ValueError(f"got {len(rewards)} rewards but {len(objectives)} objective vectors; lengths must match")
        out: list[list[float] | None] = []
        for k, vector in enumerate(objectives):
            if vector is None:
                out.append(None)
                continue
            values = list(vector)
            if self.multi_objective and len(values) != self.num_objectives:
                raise ValueError(
                    f"objectives[{k}] has {len(values)} values, expected {self.num_objectives} "
                    f"({', '.join(self.objective_names)})"
                )
            checked: list[float] = []
            for j, v in enumerate(values):
                value = _number(v, f"objectives[{k}][{j}]")
                if not math.isfinite(value):
                    raise ValueError(f"objectives[{k}][{j}] = {value} is not finite; tell a failed candidate as None")
                checked.append(value)
            out.append(checked)
        return out

    def seed_population(self, codes: Sequence[Sequence[int]], rewards: Sequence[float]) -> None:
        """Start from already evaluated codes (e.g. the result of a previous search step).

        The base implementation only records them for :meth:`best`; subclasses use them to
        steer the search (see each controller).  Seeded results count in :attr:`num_told`.

        Args:
            codes: Evaluated proposals.
            rewards: Their rewards.
        """
        checked_codes, checked_rewards = self._validate(codes, rewards)
        if not checked_codes:
            return
        self._record(checked_codes, checked_rewards)
        self._seed(checked_codes, checked_rewards)

    def best(self) -> tuple[list[int], float] | None:
        """The best result told so far (first one on ties), or ``None`` before any tell."""
        if self._best is None:
            return None
        return list(self._best[0]), self._best[1]

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (tensors as base64 of their raw bytes, see module doc)."""
        return {
            "version": STATE_VERSION,
            "name": self.name,
            "cardinalities": list(self.cardinalities),
            "seed": self.seed,
            "hyperparameters": _jsonable(self.hyperparameters),
            "num_told": self._num_told,
            "best": None if self._best is None else [list(self._best[0]), self._best[1]],
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict` (possibly after a JSON round trip).

        Raises:
            ValueError: If the state belongs to another controller, space or hyperparameters.
        """
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict, got {type(state).__name__}")
        for key in ("version", "name", "cardinalities", "hyperparameters", "num_told", "best", "extra"):
            if key not in state:
                raise ValueError(f"state lacks the key {key!r}")
        if state["version"] != STATE_VERSION:
            raise ValueError(f"state version {state['version']!r} is not {STATE_VERSION}")
        if state["name"] != self.name:
            raise ValueError(f"state is for controller {state['name']!r}, not {self.name!r}")
        if list(state["cardinalities"]) != self.cardinalities:
            raise ValueError(
                f"state cardinalities {list(state['cardinalities'])} differ from {self.cardinalities}"
            )
        mine = _jsonable(self.hyperparameters)
        theirs = state["hyperparameters"]
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                raise ValueError(
                    f"state hyperparameter {key!r} = {theirs.get(key)!r} differs from this "
                    f"controller's {mine.get(key)!r}; build the controller with the same hyperparameters"
                )
        self._num_told = int(state["num_told"])
        best = state["best"]
        self._best = None if best is None else ([int(c) for c in best[0]], float(best[1]))
        self._load_extra_state(state["extra"])

    @classmethod
    def check_hyperparameters(cls, **settings: Any) -> dict[str, Any]:
        """Validate the hyperparameters that do not depend on the space, before a search starts (the
        settings call it); the base accepts everything and returns them unchanged.

        Raises:
            ValueError: Naming the key and what is allowed.
        """
        return dict(settings)

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        return f"{type(self).__name__}(cardinalities={self.cardinalities}, seed={self.seed}{', ' if hyper else ''}{hyper})"

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _ask(self, n: int) -> list[list[int]]:
        """Return ``n >= 1`` proposals."""

    @abstractmethod
    def _tell(self, codes: list[list[int]], rewards: list[float]) -> None:
        """Consume validated, non-empty results."""

    def _tell_objectives(
        self, codes: list[list[int]], rewards: list[float], objectives: list[list[float] | None]
    ) -> None:
        """Consume validated results with their objective vectors (multi-objective controllers)."""
        self._tell(codes, rewards)

    def _seed(self, codes: list[list[int]], rewards: list[float]) -> None:
        """Consume validated seeded results (default: nothing beyond :meth:`best`)."""

    @abstractmethod
    def _extra_state(self) -> dict[str, Any]:
        """Subclass state, JSON-serialisable."""

    @abstractmethod
    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        """Restore :meth:`_extra_state`."""

    # ------------------------------------------------------------------ helpers
    def check_codes(self, code: Sequence[int], where: str = "codes") -> list[int]:
        """Validate one proposal and return it as a list of Python ints.

        Raises:
            ValueError: If its length or a value is wrong.
        """
        if isinstance(code, (str, bytes)) or not hasattr(code, "__len__") or not hasattr(code, "__iter__"):
            raise ValueError(f"{where} must be a sequence of {self.num_dimensions} ints, got {code!r}")
        if len(code) != self.num_dimensions:
            raise ValueError(f"{where} has length {len(code)}, expected {self.num_dimensions} (one per dimension)")
        out: list[int] = []
        for i, value in enumerate(code):
            if isinstance(value, bool):
                raise ValueError(f"{where}[{i}] = {value!r} is not an int")
            try:
                v = operator.index(value)
            except TypeError as err:
                raise ValueError(f"{where}[{i}] = {value!r} is not an int") from err
            if not 0 <= v < self.cardinalities[i]:
                raise ValueError(f"{where}[{i}] = {v} is out of range [0, {self.cardinalities[i]})")
            out.append(v)
        return out

    def _validate(
        self, codes: Sequence[Sequence[int]], rewards: Sequence[float]
    ) -> tuple[list[list[int]], list[float]]:
        codes = list(codes)
        rewards = list(rewards)
        if len(codes) != len(rewards):
            raise ValueError(f"got {len(codes)} codes but {len(rewards)} rewards; lengths must match")
        checked = [self.check_codes(c, where=f"codes[{k}]") for k, c in enumerate(codes)]
        values: list[float] = []
        for k, r in enumerate(rewards):
            value = _number(r, f"rewards[{k}]")
            if math.isnan(value):
                raise ValueError(f"rewards[{k}] is NaN; tell failed candidates with a finite floor reward")
            if math.isinf(value):
                raise ValueError(f"rewards[{k}] = {value} is not finite")
            values.append(value)
        return checked, values

    def _record(self, codes: list[list[int]], rewards: list[float]) -> None:
        for code, reward in zip(codes, rewards):
            if self._best is None or reward > self._best[1]:
                self._best = (list(code), reward)
        self._num_told += len(codes)


# ---------------------------------------------------------------------- unseen proposals
DUPLICATE_REDRAWS = 16
"""Fresh proposals evolution makes (a new tournament and mutation each) in place of one that repeats an
already proposed or evaluated point, before it takes the nearest unseen point (:func:`nearest_unseen`).
The Optuna samplers and REINFORCE have their own bounds (one sampler call, or a batch of policy samples)."""

MAX_REJECTIONS = 1000
"""Uniform draws :func:`draw_unseen` tries before it lists the unseen points of a small space."""

ENUMERATE_LIMIT = 1 << 20
"""Largest space :func:`draw_unseen` lists in full when rejection keeps failing (a nearly exhausted space)."""


def draw_unseen(rng: random.Random, cardinalities: Sequence[int], seen: set[tuple[int, ...]]) -> list[int] | None:
    """A code uniform over the points of the space not in ``seen``, or ``None`` when there is none.

    Rejection sampling first (exactly uniform over the unseen points); when :data:`MAX_REJECTIONS` draws
    all hit ``seen`` (a nearly exhausted space), the unseen points of a space of at most
    :data:`ENUMERATE_LIMIT` points are listed and one is chosen uniformly.

    Example:
        >>> draw_unseen(random.Random(0), [2, 2], {(0, 0), (0, 1), (1, 1)})
        [1, 0]
    """
    size = math.prod(cardinalities)
    if len(seen) >= size:
        return None
    for _ in range(MAX_REJECTIONS):
        code = [rng.randrange(c) for c in cardinalities]
        if tuple(code) not in seen:
            return code
    if size > ENUMERATE_LIMIT:
        return None
    unseen = [list(p) for p in itertools.product(*(range(c) for c in cardinalities)) if p not in seen]
    return rng.choice(unseen) if unseen else None


def nearest_unseen(rng: random.Random, code: Sequence[int], cardinalities: Sequence[int],
                   seen: set[tuple[int, ...]]) -> list[int] | None:
    """An unseen point as close to ``code`` as there is: uniform among the unseen points that differ
    from it in one dimension, else in two, else (:func:`draw_unseen`) anywhere; ``None`` when every
    point was seen.

    A controller whose own proposal repeats a seen point keeps the direction it chose: the nearest
    untried variant of that proposal, not a random point.

    Example:
        >>> nearest_unseen(random.Random(0), [0, 0], [3, 3], {(0, 0), (0, 1), (0, 2), (1, 0)})
        [2, 0]
    """
    base = [int(v) for v in code]
    for radius in (1, 2):
        candidates = []
        for dims in itertools.combinations(range(len(base)), radius):
            for values in itertools.product(*(range(cardinalities[d] - 1) for d in dims)):
                point = list(base)
                for d, v in zip(dims, values):  # a value other than base[d]
                    point[d] = v if v < base[d] else v + 1
                if tuple(point) not in seen:
                    candidates.append(point)
        if candidates:
            return rng.choice(candidates)
    return draw_unseen(rng, cardinalities, seen)


# ---------------------------------------------------------------------- state encoding
def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively (so that values compare equal after a JSON round trip)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def encode_tensor(tensor: torch.Tensor) -> dict[str, Any]:
    """A CPU tensor as ``{"__tensor__": dtype, "shape": [...], "data": base64 of raw bytes}``.

    Exact (bitwise) and compact; decode with :func:`decode_tensor`.
    """
    t = tensor.detach().cpu().contiguous()
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return {"__tensor__": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "data": base64.b64encode(raw).decode("ascii")}


def decode_tensor(obj: dict[str, Any]) -> torch.Tensor:
    """Inverse of :func:`encode_tensor`."""
    dtype = getattr(torch, obj["__tensor__"])
    raw = bytearray(base64.b64decode(obj["data"]))
    if not raw:
        return torch.empty(obj["shape"], dtype=dtype)
    return torch.frombuffer(raw, dtype=torch.uint8).view(dtype).reshape(obj["shape"]).clone()


def encode_tree(value: Any) -> Any:
    """Encode nested dicts/lists/tuples of tensors and scalars for JSON."""
    if isinstance(value, torch.Tensor):
        return encode_tensor(value)
    if isinstance(value, dict):
        return {str(k): encode_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_tree(v) for v in value]
    return value


def decode_tree(value: Any) -> Any:
    """Inverse of :func:`encode_tree` (tuples come back as lists, dict keys as strings)."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return decode_tensor(value)
        return {k: decode_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_tree(v) for v in value]
    return value


def random_state_to_json(state: tuple) -> list[Any]:
    """``random.Random.getstate()`` as JSON-compatible lists."""
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def random_state_from_json(obj: Sequence[Any]) -> tuple:
    """Inverse of :func:`random_state_to_json`."""
    version, internal, gauss_next = obj
    return (int(version), tuple(int(v) for v in internal), gauss_next)


# ---------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[Controller]] = {}
C = TypeVar("C", bound=type[Controller])


@overload
def register_controller(name: str, cls: None = None) -> Callable[[C], C]: ...


@overload
def register_controller(name: str, cls: C) -> C: ...


def register_controller(name: str, cls: C | None = None) -> Callable[[C], C] | C:
    """Register a :class:`Controller` subclass under ``name`` (usable as a decorator).

    Args:
        name: Registry name (sets ``cls.name``).
        cls: The class; omit to use as ``@register_controller("name")``.

    Raises:
        ValueError: If ``name`` is already taken by another class or ``cls`` is no Controller.
    """

    def _register(klass: C) -> C:
        if not (isinstance(klass, type) and issubclass(klass, Controller)):
            raise ValueError(f"{klass!r} is not a Controller subclass")
        if name in _REGISTRY and _REGISTRY[name] is not klass:
            raise ValueError(f"controller name {name!r} is already registered to {_REGISTRY[name].__name__}")
        klass.name = name
        _REGISTRY[name] = klass
        return klass

    if cls is None:
        return _register
    return _register(cls)


def controller_names() -> list[str]:
    """Sorted registered controller names."""
    return sorted(_REGISTRY)


def controller_class(name: str) -> type[Controller]:
    """The class registered as ``name``.

    Raises:
        ValueError: For an unknown name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown controller {name!r}; allowed: {', '.join(controller_names())}")
    return _REGISTRY[name]


def controller_hyperparameters(name: str) -> list[str]:
    """Names of the keyword hyperparameters the controller ``name`` takes (its constructor's
    keyword-only arguments, without ``cardinalities`` and ``seed``).

    Example:
        >>> "batch_size" in controller_hyperparameters("reinforce"), "batch_size" in controller_hyperparameters("tpe")
        (True, False)

    Raises:
        ValueError: For an unknown name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown controller {name!r}; allowed: {', '.join(controller_names())}")
    return [
        p.name
        for p in inspect.signature(_REGISTRY[name].__init__).parameters.values()
        if p.name not in ("self", "cardinalities", "seed") and p.kind is p.KEYWORD_ONLY
        and p.name not in _REGISTRY[name].runtime_arguments
    ]


def get_controller(name: str, cardinalities: Sequence[int], seed: int = 0, **hyperparameters: Any) -> Controller:
    """Build a registered controller by name.

    Args:
        name: One of :func:`controller_names`.
        cardinalities: Number of choices per dimension.
        seed: Seed of the controller's own generators.
        **hyperparameters: Controller-specific keyword arguments (and its ``runtime_arguments``).

    Raises:
        ValueError: For an unknown name, an unknown hyperparameter or an invalid value.
    """
    allowed = controller_hyperparameters(name)
    cls = _REGISTRY[name]
    unknown = sorted(set(hyperparameters) - set(allowed) - set(cls.runtime_arguments))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for controller {name!r}; "
            f"allowed: {', '.join(allowed) or '(none)'}"
        )
    return cls(cardinalities, seed=seed, **hyperparameters)


def check_number(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> Any:
    """Validate a numeric hyperparameter; the error names ``key`` and the allowed range."""
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    kind = "an int" if integer else "a number"
    if isinstance(value, bool):
        raise ValueError(f"{key} must be {kind} in {rng}, got {value!r}")
    try:
        v = operator.index(value) if integer else float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{key} must be {kind} in {rng}, got {value!r}") from err
    if not integer and not math.isfinite(v):
        raise ValueError(f"{key} must be {kind} in {rng}, got {value!r}")
    ok = True
    if low is not None:
        ok &= v > low if low_open else v >= low
    if high is not None:
        ok &= v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"{key} must be {kind} in {rng}, got {value!r}")
    return v


def _number(value: object, where: str) -> float:
    """``float(value)``, or a ``ValueError`` naming ``where`` (e.g. ``rewards[3]``) and the value."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where} = {value!r} is not a number") from err
