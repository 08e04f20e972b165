"""Dimensions, candidates and search spaces (plain Python: no torch, no NumPy).

See the package docstring (:mod:`lightning_imc.space`) for the rules on conditions, frozen
dimensions and encoding.
"""

from __future__ import annotations

import dataclasses

import hashlib
import json
import math
import random
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

__all__ = [
    "GROUPS",
    "Condition",
    "Dimension",
    "Candidate",
    "SearchSpace",
]

#: Groups a dimension may belong to; the NACIM optimizer selector switches them on and off.
GROUPS: tuple[str, ...] = ("architecture", "quantization", "device", "circuit")

#: Types a choice may have (JSON scalars; ``None`` is reserved for "inactive").
_SCALARS = (bool, int, float, str)


def _same(a: object, b: object) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (choices may mix bools and ints)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def _normalise_scalar(value: object) -> object:
    """Turn NumPy scalars and the like into plain Python scalars (JSON-serialisable)."""
    if value is None or isinstance(value, _SCALARS):
        return value
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        out = item()
        if out is None or isinstance(out, _SCALARS):
            return out
    raise ValueError(f"value {value!r} of type {type(value).__name__}; allowed: bool, int, float, str")


@dataclass(frozen=True)
class Condition:
    """Activity condition of a dimension: active only if ``dimension``'s value is in ``values``.

    The controlling dimension must itself be active (conditions chain) and must come earlier in
    the space's dimension order.

    Attributes:
        dimension: Name of the controlling dimension.
        values: Values of the controlling dimension under which the conditioned dimension is active.
    """

    dimension: str
    values: tuple

    def __post_init__(self) -> None:
        if not isinstance(self.dimension, str) or not self.dimension:
            raise ValueError(f"Condition.dimension={self.dimension!r}; must be a non-empty string")
        values = self.values
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = (values,)
        values = tuple(_normalise_scalar(v) for v in values)
        if not values:
            raise ValueError(f"Condition on {self.dimension!r}: values is empty; give at least one value")
        object.__setattr__(self, "values", values)

    def holds(self, value: object) -> bool:
        """Whether ``value`` (the controlling dimension's value) satisfies the condition."""
        return any(_same(value, v) for v in self.values)

    def to_config(self) -> dict[str, Any]:
        """Plain-data form ``{"dimension": name, "values": [...]}``."""
        return {"dimension": self.dimension, "values": list(self.values)}

    @classmethod
    def coerce(cls, obj: "Condition | Mapping | Sequence | None", owner: str = "condition") -> "Condition | None":
        """Accept a :class:`Condition`, ``{"dimension": d, "values": [...]}``, ``(d, values)`` or ``None``."""
        if obj is None or isinstance(obj, Condition):
            return obj
        if isinstance(obj, Mapping):
            unknown = set(obj) - {"dimension", "values"}
            if unknown or "dimension" not in obj or "values" not in obj:
                raise ValueError(
                    f"{owner}={dict(obj)!r}; a condition must have exactly the keys 'dimension' and 'values'"
                )
            return cls(obj["dimension"], obj["values"])
        if isinstance(obj, Sequence) and not isinstance(obj, str) and len(obj) == 2:
            return cls(obj[0], obj[1])
        raise ValueError(
            f"{owner}={obj!r}; allowed: None, (dimension_name, allowed_values) or "
            "{'dimension': name, 'values': [...]}"
        )


@dataclass(frozen=True)
class Dimension:
    """One named categorical choice of a search space.

    Attributes:
        name: Unique name within the space (e.g. ``"filters_1"``, ``"w_frac_3"``, ``"adc_bits"``).
        choices: The allowed values (JSON scalars: bool, int, float or str), distinct, non-empty.
            A value's code is its index in this tuple.
        group: One of :data:`GROUPS`: ``"architecture"``, ``"quantization"``, ``"device"``, ``"circuit"``.
        condition: ``None`` (always active) or a :class:`Condition` (also given as
            ``(dimension_name, allowed_values)``).
        default: The value used by :meth:`SearchSpace.default_candidate` and when a group is frozen
            without an explicit value; ``None`` means ``choices[0]``.
    """

    name: str
    choices: tuple
    group: str
    condition: Condition | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name.startswith("$"):
            raise ValueError(f"Dimension.name={self.name!r}; must be a non-empty string not starting with '$'")
        if self.group not in GROUPS:
            raise ValueError(f"Dimension {self.name!r}: group={self.group!r}; allowed: {list(GROUPS)}")
        choices = self.choices
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable):
            raise ValueError(f"Dimension {self.name!r}: choices={choices!r}; must be a list of values")
        choices = tuple(choices)
        if not choices:
            raise ValueError(f"Dimension {self.name!r}: choices is empty; give at least one value")
        try:
            choices = tuple(_normalise_scalar(c) for c in choices)
        except ValueError as err:
            raise ValueError(f"Dimension {self.name!r}: {err}") from None
        if any(c is None for c in choices):
            raise ValueError(f"Dimension {self.name!r}: None is not a valid choice (it marks inactive dimensions)")
        for i, c in enumerate(choices):
            if any(_same(c, d) for d in choices[:i]):
                raise ValueError(f"Dimension {self.name!r}: duplicate choice {c!r} in {list(choices)}")
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "condition", Condition.coerce(self.condition, f"Dimension {self.name!r}: condition"))
        if self.default is not None:
            if self.index(self.default) < 0:
                raise ValueError(
                    f"Dimension {self.name!r}: default={self.default!r} is not a choice; allowed: {list(choices)}"
                )
            object.__setattr__(self, "default", _normalise_scalar(self.default))

    @property
    def cardinality(self) -> int:
        """Number of choices."""
        return len(self.choices)

    @property
    def default_value(self) -> Any:
        """``default`` if set, else the first choice."""
        return self.choices[0] if self.default is None else self.default

    def index(self, value: object) -> int:
        """Code of ``value`` (its index in ``choices``), or -1 if it is not a choice."""
        for i, c in enumerate(self.choices):
            if _same(c, value):
                return i
        if not isinstance(value, _SCALARS) and value is not None:
            try:
                return self.index(_normalise_scalar(value))
            except ValueError:
                return -1
        return -1

    def to_config(self) -> dict[str, Any]:
        """Plain-data form (the YAML entry)."""
        out: dict[str, Any] = {"name": self.name, "group": self.group, "choices": list(self.choices)}
        if self.condition is not None:
            out["condition"] = self.condition.to_config()
        if self.default is not None:
            out["default"] = self.default
        return out

    @classmethod
    def from_config(cls, cfg: "Mapping[str, Any] | Dimension") -> "Dimension":
        """Inverse of :meth:`to_config`."""
        if isinstance(cfg, Dimension):
            return cfg
        if not isinstance(cfg, Mapping):
            raise ValueError(f"dimension entry {cfg!r}; must be a mapping with keys name, group, choices")
        allowed = {"name", "group", "choices", "condition", "default"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ValueError(f"dimension {cfg.get('name')!r}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        for key in ("name", "group", "choices"):
            if key not in cfg:
                raise ValueError(f"dimension {cfg.get('name')!r}: missing key {key!r}")
        return cls(cfg["name"], cfg["choices"], cfg["group"], cfg.get("condition"), cfg.get("default"))


class Candidate(Mapping):
    """An immutable assignment ``dimension name -> value`` (``None`` for inactive dimensions).

    Candidates are hashable, compare equal when their items are equal, and have a stable
    :attr:`key` (the same choices give the same key in every process: it hashes a canonical JSON
    text, never Python's randomised ``hash``).

    >>> c = Candidate({"b": 2, "a": "x"})
    >>> c["a"], len(c), c.to_dict()
    ('x', 2, {'a': 'x', 'b': 2})
    >>> c.key == Candidate.from_dict({"a": "x", "b": 2}).key
    True
    """

    __slots__ = ("_items", "_key")

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        items = dict(values)
        clean: dict[str, Any] = {}
        for name in sorted(items):
            if not isinstance(name, str):
                raise ValueError(f"Candidate key {name!r}; dimension names must be strings")
            try:
                clean[name] = _normalise_scalar(items[name])
            except ValueError as err:
                raise ValueError(f"Candidate[{name!r}]: {err}") from None
        self._items = clean
        self._key: str | None = None

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Candidate):
            return self.key == other.key
        if isinstance(other, Mapping):
            try:
                return self.key == Candidate(other).key
            except ValueError:
                return False
        return NotImplemented

    def __repr__(self) -> str:
        return f"Candidate({self._items!r})"

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, no spaces): the basis of :attr:`key`."""
        return json.dumps(self._items, sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """Stable 20-hex-digit identifier (SHA-256 of :meth:`to_json`), for caches and genomes."""
        if self._key is None:
            self._key = hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:20]
        return self._key

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy (JSON-serialisable)."""
        return dict(self._items)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Candidate":
        """Inverse of :meth:`to_dict`."""
        return cls(data)

    def replace(self, **changes: Any) -> "Candidate":
        """A copy with some values changed (not validated against any space)."""
        items = dict(self._items)
        items.update(changes)
        return Candidate(items)


class SearchSpace:
    """A set of named categorical dimensions, some possibly frozen, plus a network template.

    Args:
        name: Space name (e.g. ``"rls"``).
        dimensions: All dimensions, in order (conditions may only refer to earlier dimensions).
            Each item is a :class:`Dimension` or its ``to_config()`` mapping.
        template: Network template read by :func:`lightning_imc.space.to_child` (see
            :mod:`lightning_imc.space.child`); ``None`` for a space that describes no network.
        fixed: Frozen dimensions ``name -> value``; they keep their value in every decoded candidate
            and are absent from the encoding. ``None`` as a value marks a conditional dimension
            frozen as inactive.

    Free dimensions that can never be active (their condition chain ends at a frozen dimension
    whose value is not allowed) are frozen automatically as inactive.
    """

    def __init__(
        self,
        name: str,
        dimensions: Iterable[Dimension | Mapping[str, Any]],
        template: Mapping[str, Any] | None = None,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"SearchSpace.name={name!r}; must be a non-empty string")
        self.name = name
        dims = tuple(Dimension.from_config(d) for d in dimensions)
        if not dims:
            raise ValueError(f"SearchSpace {name!r}: dimensions is empty; give at least one dimension")
        seen: dict[str, Dimension] = {}
        for d in dims:
            if d.name in seen:
                raise ValueError(f"SearchSpace {name!r}: duplicate dimension name {d.name!r}")
            if d.condition is not None:
                ctrl = seen.get(d.condition.dimension)
                if ctrl is None:
                    where = "a later" if any(x.name == d.condition.dimension for x in dims) else "an unknown"
                    raise ValueError(
                        f"SearchSpace {name!r}: dimension {d.name!r} has a condition on {where} dimension "
                        f"{d.condition.dimension!r}; allowed: earlier dimensions {list(seen)}"
                    )
                for v in d.condition.values:
                    if ctrl.index(v) < 0:
                        raise ValueError(
                            f"SearchSpace {name!r}: condition of {d.name!r} on {ctrl.name!r} lists value {v!r}; "
                            f"allowed: {list(ctrl.choices)}"
                        )
            seen[d.name] = d
        self._all: tuple[Dimension, ...] = dims
        self._by_name: dict[str, Dimension] = seen
        self._fixed: dict[str, Any] = {}
        for key, value in dict(fixed or {}).items():
            self._fixed[key] = self._check_fixed_value(key, value)
        self._given: dict[str, Any] = {d.name: self._fixed[d.name] for d in dims if d.name in self._fixed}
        self._auto_freeze()
        self._free: tuple[Dimension, ...] = tuple(d for d in dims if d.name not in self._fixed)
        if not self._free:
            raise ValueError(f"SearchSpace {name!r}: every dimension is frozen; leave at least one free")
        from lightning_imc.space.child import validate_template  # local: child imports core

        self.template: dict[str, Any] | None = None if template is None else validate_template(self, template)

    # ------------------------------------------------------------------ construction helpers
    def _check_fixed_value(self, key: str, value: Any) -> Any:
        dim = self._by_name.get(key)
        if dim is None:
            raise ValueError(f"SearchSpace {self.name!r}: cannot freeze unknown dimension {key!r}; allowed: {list(self._by_name)}")
        if value is None:
            if dim.condition is None:
                raise ValueError(
                    f"SearchSpace {self.name!r}: frozen value None for unconditional dimension {key!r}; "
                    f"allowed: {list(dim.choices)}"
                )
            return None
        idx = dim.index(value)
        if idx < 0:
            raise ValueError(f"SearchSpace {self.name!r}: frozen value {key}={value!r}; allowed: {list(dim.choices)}")
        return dim.choices[idx]

    def _auto_freeze(self) -> None:
        """Freeze as inactive every dimension that no choice of the free dimensions can activate."""
        possible: dict[str, bool] = {}
        for d in self._all:
            if d.condition is None:
                possible[d.name] = True
                continue
            ctrl = d.condition.dimension
            if not possible[ctrl]:
                possible[d.name] = False
            elif ctrl in self._fixed:
                v = self._fixed[ctrl]
                possible[d.name] = v is not None and d.condition.holds(v)
            else:
                possible[d.name] = True
            if not possible[d.name]:
                self._fixed[d.name] = None

    # ------------------------------------------------------------------ introspection
    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """The free dimensions: what a controller sees and :meth:`encode` produces codes for."""
        return self._free

    @property
    def all_dimensions(self) -> tuple[Dimension, ...]:
        """All dimensions, frozen ones included, in order."""
        return self._all

    @property
    def fixed(self) -> dict[str, Any]:
        """Frozen dimensions ``name -> value`` (``None`` = frozen inactive); a copy."""
        return dict(self._fixed)

    @property
    def names(self) -> list[str]:
        """Names of the free dimensions, in encoding order."""
        return [d.name for d in self._free]

    @property
    def cardinalities(self) -> list[int]:
        """Number of choices of each free dimension, in encoding order."""
        return [d.cardinality for d in self._free]

    @property
    def size(self) -> int:
        """Number of distinct code vectors: the product of :attr:`cardinalities`.

        With conditional dimensions several code vectors decode to the same candidate (inactive
        codes are ignored); :attr:`distinct_size` counts distinct decoded candidates.
        """
        return math.prod(self.cardinalities)

    @property
    def distinct_size(self) -> int:
        """Number of distinct decoded candidates (inactive dimensions not counted)."""
        controllers = [n for n in self._ordered_controllers() if n not in self._fixed]
        if not controllers:
            return self.size
        ctrl_dims = [self._by_name[n] for n in controllers]
        seen: set[tuple] = set()
        total = 0
        for combo in _product([d.choices for d in ctrl_dims]):
            values = dict(self._fixed)
            values.update(zip(controllers, combo))
            active = self._activity(values)
            canon = tuple(v if active[n] else None for n, v in zip(controllers, combo))
            if canon in seen:
                continue
            seen.add(canon)
            total += math.prod(d.cardinality for d in self._free if active[d.name] and d.name not in controllers)
        return total

    def _ordered_controllers(self) -> list[str]:
        ctrl = {d.condition.dimension for d in self._all if d.condition is not None}
        return [d.name for d in self._all if d.name in ctrl]

    @property
    def groups(self) -> dict[str, list[str]]:
        """Group name -> names of its free dimensions (only groups with a free dimension)."""
        out: dict[str, list[str]] = {}
        for d in self._free:
            out.setdefault(d.group, []).append(d.name)
        return out

    @property
    def all_groups(self) -> dict[str, list[str]]:
        """Group name -> names of all its dimensions, frozen ones included."""
        out: dict[str, list[str]] = {}
        for d in self._all:
            out.setdefault(d.group, []).append(d.name)
        return out

    def dimension(self, name: str) -> Dimension:
        """Look a dimension (free or frozen) up by name."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"space {self.name!r} has no dimension {name!r}; allowed: {list(self._by_name)}") from None

    def __len__(self) -> int:
        return len(self._free)

    def __repr__(self) -> str:
        return (
            f"SearchSpace({self.name!r}, {len(self._free)} free / {len(self._all)} dimensions, "
            f"groups={list(self.groups)}, size={self.size})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_config(), sort_keys=True))

    # ------------------------------------------------------------------ activity
    def _activity(self, values: Mapping[str, Any]) -> dict[str, bool]:
        active: dict[str, bool] = {}
        for d in self._all:
            if d.condition is None:
                active[d.name] = True
            else:
                c = d.condition.dimension
                active[d.name] = active[c] and d.condition.holds(values.get(c))
        return active

    def active(self, candidate: Mapping[str, Any]) -> list[str]:
        """Names of the free dimensions that are active under ``candidate`` (frozen values apply)."""
        values = dict(candidate)
        values.update(self._fixed)
        act = self._activity(values)
        return [d.name for d in self._free if act[d.name]]

    def active_mask(self, codes: Sequence[int]) -> list[bool]:
        """Per free dimension, whether it is active in the candidate ``codes`` decode to.

        A controller can use it to ignore (e.g. not reward or not mutate) inactive codes.
        """
        cand = self.decode(codes)
        act = set(self.active(cand))
        return [d.name in act for d in self._free]

    # ------------------------------------------------------------------ encode / decode
    def encode(self, candidate: Mapping[str, Any]) -> list[int]:
        """Codes (indices into each free dimension's choices) of ``candidate``.

        Inactive dimensions encode to 0 whatever the candidate holds for them (or if it omits
        them). Frozen dimensions are not encoded; if the candidate names one, its value must equal
        the frozen value (or be ``None``/anything when the dimension is inactive).

        Raises:
            ValueError: an unknown name, a missing or invalid value of an active dimension, or a
                value that contradicts a frozen one.
        """
        if not isinstance(candidate, Mapping):
            raise ValueError(f"candidate must be a mapping name -> value, got {type(candidate).__name__}")
        unknown = [k for k in candidate if k not in self._by_name]
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown dimension(s) {unknown}; allowed: {list(self._by_name)}")
        values = dict(candidate)
        values.update({k: v for k, v in self._fixed.items()})
        act = self._activity(values)
        for k, fv in self._fixed.items():
            if k in candidate and act[k] and fv is not None and candidate[k] is not None and not _same(candidate[k], fv):
                raise ValueError(f"space {self.name!r}: {k}={candidate[k]!r} but the dimension is frozen at {fv!r}")
        codes: list[int] = []
        for d in self._free:
            if not act[d.name]:
                codes.append(0)
                continue
            if d.name not in candidate or candidate[d.name] is None:
                raise ValueError(f"space {self.name!r}: candidate has no value for active dimension {d.name!r}; allowed: {list(d.choices)}")
            idx = d.index(candidate[d.name])
            if idx < 0:
                raise ValueError(f"space {self.name!r}: {d.name}={candidate[d.name]!r}; allowed: {list(d.choices)}")
            codes.append(idx)
        return codes

    def decode(self, codes: Sequence[int]) -> Candidate:
        """The candidate of a code vector: every dimension (frozen ones included) -> value.

        Inactive dimensions get ``None``; their codes must be in range but are otherwise ignored.

        Raises:
            ValueError: wrong length, a non-integer code or a code out of range (naming the dimension).
        """
        if isinstance(codes, (str, bytes)) or not isinstance(codes, Sequence):
            try:
                codes = list(codes)  # e.g. a NumPy array
            except TypeError:
                raise ValueError(f"codes must be a sequence of integers, got {type(codes).__name__}") from None
        if len(codes) != len(self._free):
            raise ValueError(
                f"space {self.name!r}: got {len(codes)} codes; expected {len(self._free)} (one per free dimension: {self.names})"
            )
        values: dict[str, Any] = {}
        for d, code in zip(self._free, codes):
            try:
                if isinstance(code, bool):
                    raise TypeError
                i = code.__index__()
            except (AttributeError, TypeError):
                raise ValueError(f"space {self.name!r}: code for {d.name!r} is {code!r}; must be an integer") from None
            if not 0 <= i < d.cardinality:
                raise ValueError(
                    f"space {self.name!r}: code {i} for {d.name!r} out of range; allowed: 0..{d.cardinality - 1}"
                )
            values[d.name] = d.choices[i]
        values.update(self._fixed)
        act = self._activity(values)
        return Candidate({d.name: (values[d.name] if act[d.name] else None) for d in self._all})

    def canonical(self, candidate: Mapping[str, Any]) -> Candidate:
        """``decode(encode(candidate))``: validated, frozen values filled in, inactive set to ``None``."""
        return self.decode(self.encode(candidate))

    def complete(self, partial: Mapping[str, Any]) -> Candidate:
        """Fill the active dimensions that ``partial`` omits (or holds as ``None``) with their defaults.

        >>> from lightning_imc.space import eds
        >>> c = eds(include=("architecture",)).complete({"depth": 6, "filters_3": 128})
        >>> c["filters_3"], c["filters_4"], c["filters_8"]
        (128, None, 64)
        """
        values = dict(partial)
        values.update(self._fixed)
        active: dict[str, bool] = {}
        for d in self._all:
            cond = d.condition
            active[d.name] = cond is None or (active[cond.dimension] and cond.holds(values.get(cond.dimension)))
            if active[d.name] and values.get(d.name) is None:
                values[d.name] = d.default_value
        return self.canonical(values)

    def contains(self, candidate: Mapping[str, Any]) -> bool:
        """Whether ``candidate`` can be encoded in this space."""
        try:
            self.encode(candidate)
        except ValueError:
            return False
        return True

    def sample(self, rng: random.Random | int | None = None) -> Candidate:
        """A uniformly random code vector, decoded. ``rng``: a :class:`random.Random` or a seed."""
        if not isinstance(rng, random.Random):
            rng = random.Random(rng)
        return self.decode([rng.randrange(c) for c in self.cardinalities])

    def default_candidate(self) -> Candidate:
        """Every free dimension at its :attr:`Dimension.default_value` (frozen ones at their value)."""
        return self.decode([d.index(d.default_value) for d in self._free])

    # ------------------------------------------------------------------ children
    def to_child(
        self,
        candidate: Mapping[str, Any] | Sequence[int],
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> Any:
        """:func:`lightning_imc.space.to_child` of ``candidate`` (a mapping or a code vector)."""
        from lightning_imc.space.child import to_child

        return to_child(self, candidate, input_shape, num_classes)

    def repairs(
        self,
        candidate: Mapping[str, Any] | Sequence[int],
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> tuple[str, ...]:
        """The repairs :func:`to_child` applies to ``candidate`` (empty tuple: valid as sampled)."""
        return self.to_child(candidate, input_shape, num_classes).repairs

    def is_valid(
        self,
        candidate: Mapping[str, Any] | Sequence[int],
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> bool:
        """Whether ``candidate`` belongs to the space and needs no repair.

        Never raises: a candidate outside the space (unknown names, bad values) is just invalid.
        """
        try:
            return not self.repairs(candidate, input_shape, num_classes)
        except ValueError:
            return False

    # ------------------------------------------------------------------ freezing
    def restrict(self, fixed: Mapping[str, Any]) -> "SearchSpace":
        """A space with more dimensions frozen: ``fixed`` maps free dimension names to values.

        Frozen dimensions keep their value in every decoded candidate and disappear from the
        encoding. Dimensions that become impossible to activate are frozen as inactive.

        Raises:
            ValueError: an unknown or already frozen name, or a value that is not a choice.
        """
        new = dict(self._given)
        for k, v in dict(fixed).items():
            if k in self._fixed:
                if not _same(self._fixed[k], v):
                    raise ValueError(f"space {self.name!r}: {k!r} is already frozen at {self._fixed[k]!r}")
                continue
            if k not in self._by_name:
                raise ValueError(f"space {self.name!r}: cannot freeze unknown dimension {k!r}; allowed: {self.names}")
            new[k] = v
        return SearchSpace(self.name, self._all, self.template, new)

    def narrow(self, name: str, choices: Iterable[Any]) -> "SearchSpace":
        """A space whose free dimension ``name`` keeps only ``choices`` (in its own order).

        Raises:
            ValueError: an unknown or frozen dimension, a value that is not a choice, or nothing left.
        """
        if name not in self._by_name or name in self._fixed:
            raise ValueError(f"space {self.name!r}: cannot narrow {name!r}; free dimensions: {self.names}")
        old = self._by_name[name]
        wanted = list(choices)
        for value in wanted:
            if old.index(value) < 0:
                raise ValueError(f"space {self.name!r}: {name}={value!r} is not a choice; allowed: {list(old.choices)}")
        kept = tuple(c for c in old.choices if any(_same(c, v) for v in wanted))
        if not kept:
            raise ValueError(f"space {self.name!r}: narrowing {name!r} leaves no choice")
        default = old.default if old.default is not None and any(_same(old.default, c) for c in kept) else None
        dims = tuple(dataclasses.replace(d, choices=kept, default=default) if d.name == name else d for d in self._all)
        return SearchSpace(self.name, dims, self.template, self._given)

    def select_groups(self, active: Iterable[str], defaults: Mapping[str, Any] | None = None) -> "SearchSpace":
        """Keep the groups in ``active`` searchable and freeze every other group.

        A frozen dimension takes its value from ``defaults`` (e.g. the best candidate of a previous
        search step) when that holds a non-``None`` value for it, else its
        :attr:`Dimension.default_value`.

        Raises:
            ValueError: an unknown group name, or a default that is not a choice.
        """
        active = set([active] if isinstance(active, str) else active)
        unknown = sorted(active - set(GROUPS))
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown group(s) {unknown}; allowed: {list(GROUPS)}")
        defaults = dict(defaults or {})
        freeze: dict[str, Any] = {}
        for d in self._free:
            if d.group in active:
                continue
            value = defaults.get(d.name)
            freeze[d.name] = d.default_value if value is None else value
        if not freeze:
            return self
        return self.restrict(freeze)

    # ------------------------------------------------------------------ config round trip
    def to_config(self) -> dict[str, Any]:
        """Plain data (lists, dicts, scalars) that :meth:`from_config` turns back into this space."""
        out: dict[str, Any] = {"name": self.name, "dimensions": [d.to_config() for d in self._all]}
        if self._given:
            out["fixed"] = dict(self._given)
        if self.template is not None:
            out["template"] = json.loads(json.dumps(self.template))
        return out

    def to_yaml(self, header: str = "") -> str:
        """YAML text of :meth:`to_config`, one dimension per line (needs PyYAML, shipped with Hydra)."""
        import yaml  # lazy: only this method needs it

        def flow(obj: Any) -> str:
            text = yaml.safe_dump(obj, default_flow_style=True, width=1 << 20, sort_keys=False).strip()
            return text[: -len("...")].strip() if text.endswith("\n...") else text

        cfg = self.to_config()
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        lines.append(f"name: {flow(cfg['name'])}")
        lines.append("dimensions:")
        lines += [f"  - {flow(d)}" for d in cfg["dimensions"]]
        if "fixed" in cfg:
            lines.append("fixed:")
            lines += [f"  {flow({k: v})[1:-1]}" for k, v in cfg["fixed"].items()]
        if "template" in cfg:
            tpl = dict(cfg["template"])
            layers = tpl.pop("layers", None)
            lines.append("template:")
            for k, v in tpl.items():
                lines.append(f"  {k}: {flow(v)}")
            if layers is not None:
                lines.append("  layers:")
                lines += [f"    - {flow(layer)}" for layer in layers]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "SearchSpace":
        """Build a space from plain data.

        Accepts the output of :meth:`to_config` (keys ``name``, ``dimensions``, optional
        ``template`` and ``fixed``), or a builder call ``{"_target_": "lightning_imc.space.get_space",
        "name": "rls", ...kwargs}``. An OmegaConf ``DictConfig`` is converted with
        ``OmegaConf.to_container(resolve=True)``.
        """
        if not isinstance(cfg, Mapping):
            raise ValueError(f"space config must be a mapping, got {type(cfg).__name__}")
        if type(cfg).__module__.startswith("omegaconf"):
            from omegaconf import OmegaConf  # lazy

            cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        cfg = dict(cfg)
        target = cfg.pop("_target_", None)
        if target is not None:
            allowed_targets = ("lightning_imc.space.get_space", "lightning_imc.space.registry.get_space")
            if target not in allowed_targets:
                raise ValueError(f"space config _target_={target!r}; allowed: {list(allowed_targets)}")
            from lightning_imc.space.registry import get_space

            if "name" not in cfg:
                raise ValueError("space config with _target_ needs a 'name' key (the registered space name)")
            return get_space(**cfg)
        allowed = {"name", "dimensions", "template", "fixed"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ValueError(f"space config: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        for key in ("name", "dimensions"):
            if key not in cfg:
                raise ValueError(f"space config: missing key {key!r}")
        dims = cfg["dimensions"]
        if not isinstance(dims, Sequence) or isinstance(dims, str):
            raise ValueError(f"space config: 'dimensions' must be a list of mappings, got {type(dims).__name__}")
        return cls(cfg["name"], dims, cfg.get("template"), cfg.get("fixed"))


def _product(lists: Sequence[Sequence[Any]]) -> Iterator[tuple]:
    if not lists:
        yield ()
        return
    for head in lists[0]:
        for tail in _product(lists[1:]):
            yield (head,) + tail
