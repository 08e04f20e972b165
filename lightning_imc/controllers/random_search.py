"""``random``: uniform sampling, the baseline every search result is compared with."""

from __future__ import annotations

import random
from typing import Any, Sequence

from .base import Controller, random_state_from_json, random_state_to_json, register_controller

__all__ = ["RandomController"]

#: Rejection-sampling attempts per proposal before a duplicate is accepted.
MAX_REJECTIONS = 1000


@register_controller("random")
class RandomController(Controller):
    """Uniform sampling, independently per dimension.

    With ``avoid_duplicates`` (the default) a proposal identical to one already proposed or
    told is re-drawn (rejection sampling, at most ``MAX_REJECTIONS`` times), so a budget is not
    spent twice on the same point; once every point of the space has been proposed, or when
    rejection keeps failing (a nearly exhausted space), duplicates are allowed again.  Proposals
    stay uniform over the not-yet-proposed points.

    Args:
        cardinalities: Number of choices per dimension.
        seed: Seed of the controller's ``random.Random``.
        avoid_duplicates: Re-draw exact duplicates of earlier proposals when the space allows.
    """

    def __init__(self, cardinalities: Sequence[int], seed: int = 0, *, avoid_duplicates: bool = True) -> None:
        super().__init__(cardinalities, seed)
        if not isinstance(avoid_duplicates, bool):
            raise ValueError(f"avoid_duplicates must be a bool, got {avoid_duplicates!r}")
        self.avoid_duplicates = avoid_duplicates
        self._rng = random.Random(self.seed)
        self._seen: set[tuple[int, ...]] = set()

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {"avoid_duplicates": self.avoid_duplicates}

    def _draw(self) -> list[int]:
        return [self._rng.randrange(c) for c in self.cardinalities]

    def _ask(self, n: int) -> list[list[int]]:
        out = []
        for _ in range(n):
            code = self._draw()
            if self.avoid_duplicates and len(self._seen) < self.space_size:
                for _attempt in range(MAX_REJECTIONS):
                    if tuple(code) not in self._seen:
                        break
                    code = self._draw()
            self._seen.add(tuple(code))
            out.append(code)
        return out

    def _tell(self, codes: list[list[int]], rewards: list[float]) -> None:
        self._seen.update(tuple(c) for c in codes)

    def _seed(self, codes: list[list[int]], rewards: list[float]) -> None:
        self._seen.update(tuple(c) for c in codes)

    def _extra_state(self) -> dict[str, Any]:
        return {"rng": random_state_to_json(self._rng.getstate()), "seen": sorted(list(c) for c in self._seen)}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._rng.setstate(random_state_from_json(extra["rng"]))
        self._seen = {tuple(int(v) for v in c) for c in extra["seen"]}
