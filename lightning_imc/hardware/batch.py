"""Batched evaluation: many (network, device, chip) triples in one vectorised NumPy pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..devices import Device, get_device
from .chip import ChipConfig
from .model import HardwareReport, _report, core, pack
from .network import Network

__all__ = ["BatchReport", "evaluate_batch"]


@dataclass(frozen=True)
class BatchReport:
    """Metrics of N evaluations as arrays of shape (N,) (units as in :class:`HardwareReport`).

    Infeasible rows (only with ``strict=False``) have ``feasible = False`` and +inf metrics.
    """

    area_mm2: np.ndarray
    latency_s: np.ndarray
    dynamic_energy_j: np.ndarray
    leakage_energy_j: np.ndarray
    energy_j: np.ndarray
    tops: np.ndarray
    tops_per_w: np.ndarray
    tops_per_mm2: np.ndarray
    edp_js: np.ndarray
    utilization: np.ndarray
    tiles: np.ndarray
    feasible: np.ndarray
    networks: tuple[Network, ...]
    chips: tuple[ChipConfig, ...]
    _raw: dict

    def __len__(self) -> int:
        return len(self.area_mm2)

    def report(self, i: int) -> HardwareReport:
        """The full :class:`HardwareReport` of row ``i`` (with per-layer details)."""
        return _report(self._raw, i, self.networks[i], self.chips[i])

    def metric(self, name: str) -> np.ndarray:
        """A metric by name: ``latency``, ``energy``, ``area``, ``edp`` or any array field."""
        alias = {"latency": "latency_s", "energy": "energy_j", "area": "area_mm2", "edp": "edp_js"}
        return getattr(self, alias.get(name, name))


def _broadcast(x, n: int, what: str) -> list:
    if isinstance(x, (Network, ChipConfig, Device, str)):
        return [x] * n
    x = list(x)
    if len(x) == 1:
        return x * n
    if len(x) != n:
        raise ValueError(f"evaluate_batch: {what} has {len(x)} entries, expected 1 or {n}")
    return x


def evaluate_batch(networks: Network | Sequence[Network], device: Device | str | Sequence[Device | str],
                   chips: ChipConfig | Sequence[ChipConfig], *, strict: bool = True) -> BatchReport:
    """Evaluate N (network, device, chip) triples at once (vectorised over N and the layers).

    Any argument may be a single item (broadcast) or a sequence of length N. Results equal those
    of :func:`~lightning_imc.hardware.evaluate` row by row.

    >>> from lightning_imc.hardware import Network, ChipConfig
    >>> b = evaluate_batch(Network.vgg8(), "rram_vgg8", [ChipConfig.neurosim_vgg8(adc_bits=a) for a in (3, 4, 5)])
    >>> bool(np.all(np.diff(b.area_mm2) > 0))
    True
    """
    sizes = [len(x) for x in (networks, device, chips)
             if not isinstance(x, (Network, ChipConfig, Device, str))]
    n = max(sizes) if sizes else 1
    nets = _broadcast(networks, n, "networks")
    chs = _broadcast(chips, n, "chips")
    devs = [get_device(d) for d in _broadcast(device, n, "device")]
    for i, (a, c) in enumerate(zip(nets, chs)):
        if not isinstance(a, Network):
            raise ValueError(f"networks[{i}] is a {type(a).__name__}, not a Network")
        if not isinstance(c, ChipConfig):
            raise ValueError(f"chips[{i}] is a {type(c).__name__}, not a ChipConfig")
    o = core(pack(nets, devs, chs), strict=strict)
    return BatchReport(
        area_mm2=o["area_mm2"], latency_s=o["latency_s"], dynamic_energy_j=o["dynamic_energy_j"],
        leakage_energy_j=o["leakage_energy_j"], energy_j=o["energy_j"], tops=o["tops"],
        tops_per_w=o["tops_per_w"], tops_per_mm2=o["tops_per_mm2"], edp_js=o["edp_js"],
        utilization=o["utilization"], tiles=o["tiles"], feasible=o["feasible"],
        networks=tuple(nets), chips=tuple(chs), _raw=o,
    )
