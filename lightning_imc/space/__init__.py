"""Search spaces as data: named categorical dimensions, candidates, integer encodings.

Plain Python (no torch, no Lightning): controllers, the hardware model and the search loop can use
it without a deep-learning stack.

Rules:

* **Dimensions.** A :class:`Dimension` is a named tuple of choices (JSON scalars) in one *group*
  (``"architecture"``, ``"quantization"``, ``"device"``, ``"circuit"``). A value's *code* is its
  index in the choices; a controller sees only codes (:attr:`SearchSpace.cardinalities`,
  :meth:`SearchSpace.encode`, :meth:`SearchSpace.decode`).
* **Conditions.** A dimension may be conditional: ``Condition("depth", (6, 8, 10))`` makes it active
  only when ``depth`` (an *earlier* dimension, itself active) takes one of those values. An inactive
  dimension still has a code (encode writes 0; decode accepts any in-range code and ignores it) and
  its value in a decoded :class:`Candidate` is ``None``. So several code vectors may decode to the
  same candidate: :attr:`SearchSpace.size` counts code vectors (the product of the cardinalities),
  :attr:`SearchSpace.distinct_size` counts distinct candidates.
* **Frozen dimensions.** :meth:`SearchSpace.restrict` and :meth:`SearchSpace.select_groups` freeze
  dimensions at fixed values: they vanish from the encoding but keep their value in every decoded
  candidate. A dimension that can no longer become active is frozen as inactive automatically.
* **Candidates.** A decoded :class:`Candidate` maps every dimension (frozen ones included) to its
  value; it is immutable, hashable and JSON-serialisable, and its :attr:`Candidate.key` is stable
  across processes (SHA-256 of a canonical JSON text).
* **Children and repairs.** :func:`to_child` turns a candidate into a :class:`ChildSpec` using the
  space's template. It never raises for a candidate of the space: 0-bit formats get one fraction
  bit, poolings that do not fit (feature map smaller than 2×2) are dropped, upsamplings with no
  pooling left to undo are dropped; every change is listed in :attr:`ChildSpec.repairs` (see
  :mod:`lightning_imc.space.child`). :meth:`SearchSpace.repairs` / :meth:`SearchSpace.is_valid`
  report them without building anything else.
* **Configuration.** :meth:`SearchSpace.to_config` / :meth:`SearchSpace.from_config` round-trip a
  space through plain data (``conf/space/*.yaml``); :func:`get_space` builds the paper's ``"rls"``,
  ``"vls"``, ``"eds"`` spaces or any space added with :func:`register_space`.

>>> space = get_space("rls", include=("architecture",))
>>> cand = space.sample(0)
>>> space.decode(space.encode(cand)) == cand
True
>>> child = to_child(space, cand)
>>> [layer.kind for layer in child.layers]
['conv', 'conv', 'conv', 'conv', 'conv', 'conv', 'fc', 'fc']
"""

from lightning_imc.space.child import (
    DEFAULT_CIRCUIT,
    DEFAULT_DEVICE,
    DEFAULT_INPUT_BITS,
    DEFAULT_WEIGHT_BITS,
    ChildSpec,
    LayerSpec,
    to_child,
)
from lightning_imc.space.core import GROUPS, Candidate, Condition, Dimension, SearchSpace
from lightning_imc.space.registry import (
    DEFAULT_DEVICES,
    eds,
    get_space,
    load_space,
    register_space,
    rls,
    space_names,
    vls,
)

__all__ = [
    "GROUPS",
    "Condition",
    "Dimension",
    "Candidate",
    "SearchSpace",
    "LayerSpec",
    "ChildSpec",
    "to_child",
    "DEFAULT_WEIGHT_BITS",
    "DEFAULT_INPUT_BITS",
    "DEFAULT_CIRCUIT",
    "DEFAULT_DEVICE",
    "DEFAULT_DEVICES",
    "rls",
    "vls",
    "eds",
    "get_space",
    "register_space",
    "space_names",
    "load_space",
]
