"""Analytical hardware model of compute-in-memory crossbar accelerators (NeuroSim-style).

Pure Python/NumPy: importing this package never imports torch (only
:func:`network_from_module` does, lazily).

>>> from lightning_imc.hardware import Network, ChipConfig, evaluate
>>> report = evaluate(Network.vgg8(), "rram_vgg8", ChipConfig.neurosim_vgg8())
>>> round(report.area_mm2)
46
"""

from ..devices import DEVICE_LIBRARY, Device, get_device
from .chip import ChipConfig
from .model import COMPONENTS, HardwareReport, LayerReport, evaluate
from .network import Layer, Network, device_from_module, network_from_module, random_rls_network
from .batch import BatchReport, evaluate_batch
from .optimize import OptimizationResult, optimize_circuit

__all__ = [
    "Device", "DEVICE_LIBRARY", "get_device",
    "ChipConfig", "Layer", "Network", "network_from_module", "device_from_module", "random_rls_network",
    "evaluate", "HardwareReport", "LayerReport", "COMPONENTS",
    "evaluate_batch", "BatchReport", "optimize_circuit", "OptimizationResult",
]
