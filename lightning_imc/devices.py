"""Memory devices for compute-in-memory crossbars: one definition shared by the layers and the hardware model.

This module is plain Python (no torch, no NumPy) so that both :mod:`lightning_imc.layers` (noise
injection) and :mod:`lightning_imc.hardware` (latency/energy/area) can import it without pulling in
each other's dependencies.

A device stores ``bits_per_cell`` bits as one of ``2**bits_per_cell`` conductance levels. Programming
is imperfect: the conductance of a programmed cell deviates from its target level by a Gaussian with
mean 0 and standard deviation ``sigma_levels`` *in units of one level spacing* (NACIM, Jiang et al.
2020, section V-A: "in each level of the device, the variation follows a Gaussian distribution with a
mean of 0"). The per-level spacing in conductance is ``(g_on - g_off) / (levels - 1)``.

Sources of the electrical figures (each entry's ``source`` field says which applies):

* DNN+NeuroSim V1.3, ``Inference_pytorch/NeuroSIM/Param.cpp`` (defaults): RRAM Ron = 6 kΩ,
  Roff = 150 · Ron, read voltage 0.5 V, read pulse 10 ns, 1T1R cell 4 F × 12 F = 48 F², SRAM cell
  10 F × 28 F = 280 F², 2 bits per RRAM cell.
* DNN+NeuroSim V1.4, ``Param.cpp`` and manual Table VII: 1-bit RRAM, Ron 100 kΩ, on/off 17, write
  voltage 2 V (level shifters above 1.5 V); SRAM read in parallel with an ideal on/off ratio.
* DNN+NeuroSim V1.3 manual, VGG-8 example (``../shared/validation/published_hardware_figures.md``,
  section 1): RRAM Ron = 100 kΩ, Roff = 10 MΩ, 2 bits per cell.
* NACIM (Jiang et al., IEEE TC 2020, section V-A): 4-bit (16-level) ReRAM, current range [0, 16] µA at
  a 0.5 V memory voltage (so Ron = 0.5 V / 16 µA = 31.25 kΩ), per-level σ read as 0.8 of one level.
* FeFET, STT-MRAM and PCM: representative figures of the devices DNN+NeuroSim supports (Peng et al.,
  IEDM 2019; Yu et al., "Compute-in-memory chips for deep learning", IEEE Proc. 2021). Their
  ``sigma_levels`` are illustrative defaults, not measurements: override them for a study.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["Device", "DEVICE_LIBRARY", "get_device", "register_device", "device_names"]


@dataclass(frozen=True)
class Device:
    """A memory cell technology as seen by the crossbar: levels, variation and electrical figures.

    Attributes:
        name: Registry name (lower case, e.g. ``"rram_nacim"``).
        technology: Device family: ``"ReRAM"``, ``"FeFET"``, ``"STT-MRAM"``, ``"SRAM"`` or ``"PCM"``.
        bits_per_cell: Bits stored per cell (bits); the cell has ``2**bits_per_cell`` levels.
        sigma_levels: Std of the Gaussian programming variation, in units of one level spacing
            (dimensionless). 0 means no variation (SRAM).
        r_on_ohm: Low-resistance (on) state at the read voltage (Ω).
        on_off_ratio: Roff / Ron (dimensionless, > 1).
        cell_area_f2: Cell area including its access device, in units of F² (F = feature size).
        read_voltage_v: Read voltage on the bit line (V).
        read_pulse_s: Read pulse width (s).
        nonvolatile: Whether the cell keeps its state without power (SRAM does not: it leaks).
        access: Cell structure, e.g. ``"1T1R"``, ``"6T"``, ``"1FeFET"``, ``"1T1MTJ"``.
        source: Where the figures come from.
        write_voltage_v: Programming voltage (V), or ``None`` when the cell is written at the logic
            supply (SRAM). Above 1.5 V the array needs level shifters on its word, bit and source
            lines (NeuroSim Param.cpp: "Enable level shifter if writeVoltage > 1.5V").
        drift_nu: Mean conductance-drift exponent ν (dimensionless): a programmed conductance decays
            as ``G(t) = G0 · (t / t0)**-ν`` (``IMCConfig.drift_time_s``). 0 = no drift.
        drift_nu_std: Device-to-device std of ν (dimensionless); each cell draws its own
            ``ν ~ N(drift_nu, drift_nu_std²)`` (clamped at 0) once per programmed chip.
    """

    name: str
    technology: str
    bits_per_cell: int
    sigma_levels: float
    r_on_ohm: float
    on_off_ratio: float
    cell_area_f2: float
    read_voltage_v: float = 0.5
    read_pulse_s: float = 10e-9
    nonvolatile: bool = True
    access: str = "1T1R"
    source: str = ""
    write_voltage_v: float | None = None
    drift_nu: float = 0.0
    drift_nu_std: float = 0.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Device.name must be a non-empty string")
        if self.technology not in TECHNOLOGIES:
            raise ValueError(
                f"Device.technology={self.technology!r} for {self.name!r}; allowed: {sorted(TECHNOLOGIES)}"
            )
        _check_int_range("bits_per_cell", self.bits_per_cell, 1, 8, self.name)
        _check_positive("r_on_ohm", self.r_on_ohm, self.name)
        _check_positive("cell_area_f2", self.cell_area_f2, self.name)
        _check_positive("read_voltage_v", self.read_voltage_v, self.name)
        _check_positive("read_pulse_s", self.read_pulse_s, self.name)
        if self.write_voltage_v is not None:
            _check_positive("write_voltage_v", self.write_voltage_v, self.name)
        if not (math.isfinite(self.on_off_ratio) and self.on_off_ratio > 1):
            raise ValueError(f"Device.on_off_ratio={self.on_off_ratio!r} for {self.name!r}; must be > 1")
        for field in ("drift_nu", "drift_nu_std"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Device.{field}={value!r} for {self.name!r}; must be a finite number >= 0")
        if not (math.isfinite(self.sigma_levels) and self.sigma_levels >= 0):
            raise ValueError(f"Device.sigma_levels={self.sigma_levels!r} for {self.name!r}; must be >= 0")

    @property
    def levels(self) -> int:
        """Number of conductance levels per cell (``2**bits_per_cell``)."""
        return 2**self.bits_per_cell

    @property
    def needs_level_shifter(self) -> bool:
        """Whether writing the cell needs level shifters (write voltage above 1.5 V)."""
        return self.write_voltage_v is not None and self.write_voltage_v > LEVEL_SHIFT_ABOVE_V

    @property
    def r_off_ohm(self) -> float:
        """High-resistance (off) state (Ω)."""
        return self.r_on_ohm * self.on_off_ratio

    @property
    def g_on_s(self) -> float:
        """On-state conductance (S)."""
        return 1.0 / self.r_on_ohm

    @property
    def g_off_s(self) -> float:
        """Off-state conductance (S)."""
        return 1.0 / self.r_off_ohm

    @property
    def level_spacing_s(self) -> float:
        """Conductance step between adjacent levels (S)."""
        return (self.g_on_s - self.g_off_s) / (self.levels - 1)

    @property
    def max_read_current_a(self) -> float:
        """Cell current in the on state at the read voltage (A)."""
        return self.read_voltage_v * self.g_on_s

    def cells_per_weight(self, weight_bits: int) -> int:
        """Cells needed to store a ``weight_bits``-bit weight: ``ceil(weight_bits / bits_per_cell)``."""
        if weight_bits < 1:
            raise ValueError(f"weight_bits={weight_bits!r}; must be >= 1")
        return -(-weight_bits // self.bits_per_cell)

    def with_sigma(self, sigma_levels: float) -> "Device":
        """A copy with another variation std (in level units)."""
        return dataclasses.replace(self, sigma_levels=sigma_levels)


TECHNOLOGIES = frozenset({"ReRAM", "FeFET", "STT-MRAM", "SRAM", "PCM"})
#: Write voltage (V) above which level shifters are needed (NeuroSim Param.cpp, writeVoltage).
LEVEL_SHIFT_ABOVE_V = 1.5


def _check_int_range(field: str, value: object, low: int, high: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        raise ValueError(f"Device.{field}={value!r} for {name!r}; must be an integer in [{low}, {high}]")


def _check_positive(field: str, value: float, name: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"Device.{field}={value!r} for {name!r}; must be a finite number > 0")


_NEUROSIM_PARAM = "DNN+NeuroSim V1.3 Param.cpp defaults"

DEVICE_LIBRARY: dict[str, Device] = {}


def register_device(device: Device, *, overwrite: bool = False) -> Device:
    """Add ``device`` to the library under ``device.name`` (lower case) and return it."""
    key = device.name.lower()
    if key in DEVICE_LIBRARY and not overwrite:
        raise ValueError(f"device {key!r} is already registered; pass overwrite=True to replace it")
    DEVICE_LIBRARY[key] = device
    return device


def device_names() -> list[str]:
    """Names of all registered devices, sorted."""
    return sorted(DEVICE_LIBRARY)


def get_device(name_or_device: "str | Device") -> Device:
    """Look a device up by name (case-insensitive); a :class:`Device` is returned unchanged.

    >>> get_device("rram_nacim").bits_per_cell
    4
    >>> get_device("sram").sigma_levels
    0.0
    """
    if isinstance(name_or_device, Device):
        return name_or_device
    if not isinstance(name_or_device, str):
        raise ValueError(f"device must be a name or a Device, got {type(name_or_device).__name__}")
    key = name_or_device.lower()
    if key not in DEVICE_LIBRARY:
        raise ValueError(f"device={name_or_device!r} is unknown; allowed: {device_names()}")
    return DEVICE_LIBRARY[key]


for _device in (
    Device(
        name="rram_nacim",
        technology="ReRAM",
        bits_per_cell=4,
        sigma_levels=0.8,
        r_on_ohm=0.5 / 16e-6,  # 16 µA full-scale current at the 0.5 V memory voltage
        on_off_ratio=100.0,
        cell_area_f2=48.0,
        read_voltage_v=0.5,
        source="NACIM section V-A (4-bit ReRAM, [0, 16] µA, σ = 0.8 level); 1T1R area from NeuroSim",
        write_voltage_v=2.0,  # NeuroSim Param.cpp writeVoltage (RRAM)
    ),
    Device(
        name="rram_neurosim",
        technology="ReRAM",
        bits_per_cell=2,
        sigma_levels=0.0,
        r_on_ohm=6e3,
        on_off_ratio=150.0,
        cell_area_f2=48.0,
        source=_NEUROSIM_PARAM + " (variation off as in its default run)",
        write_voltage_v=2.0,  # NeuroSim Param.cpp writeVoltage
    ),
    Device(
        name="rram_vgg8",
        technology="ReRAM",
        bits_per_cell=2,
        sigma_levels=0.0,
        r_on_ohm=100e3,
        on_off_ratio=100.0,
        cell_area_f2=48.0,
        source="DNN+NeuroSim V1.3 manual, VGG-8 example (Ron 100 kΩ, Roff 10 MΩ, 2 bits/cell)",
        write_voltage_v=2.0,  # NeuroSim Param.cpp writeVoltage
    ),
    Device(
        name="rram_v14",
        technology="ReRAM",
        bits_per_cell=1,
        sigma_levels=0.0,
        r_on_ohm=100e3,
        on_off_ratio=17.0,
        cell_area_f2=48.0,
        read_voltage_v=0.5,
        source="DNN+NeuroSim V1.4 Param.cpp and manual Table VII (Ron 100 kΩ, on/off 17, 1 bit/cell, 1T1R 4×12 F²)",
        write_voltage_v=2.0,  # NeuroSim V1.4 Param.cpp writeVoltage
    ),
    Device(
        name="fefet",
        technology="FeFET",
        bits_per_cell=2,
        sigma_levels=0.3,
        r_on_ohm=240e3,
        on_off_ratio=100.0,
        cell_area_f2=48.0,
        access="1FeFET",
        source="representative FeFET figures (Peng et al. IEDM 2019 device table); σ illustrative",
        write_voltage_v=4.0,  # FeFET program/erase pulses of about ±4 V (Jerry et al., IEDM 2017)
    ),
    Device(
        name="stt_mram",
        technology="STT-MRAM",
        bits_per_cell=1,
        sigma_levels=0.1,
        r_on_ohm=3e3,
        on_off_ratio=2.5,
        cell_area_f2=40.0,
        read_voltage_v=0.1,
        access="1T1MTJ",
        source="representative STT-MRAM figures (TMR ≈ 150%, 1T1MTJ ≈ 40 F²); σ illustrative",
        write_voltage_v=0.8,  # STT switching below 1 V: no level shifter
    ),
    Device(
        name="sram",
        technology="SRAM",
        bits_per_cell=1,
        sigma_levels=0.0,
        r_on_ohm=100e3,
        on_off_ratio=1e6,
        cell_area_f2=280.0,
        read_voltage_v=0.5,
        nonvolatile=False,
        access="8T",
        source="DNN+NeuroSim V1.4 (SRAM 10 F × 28 F; parallel read through the 8T read port, Ron 100 kΩ "
        "at 0.5 V and an ideal on/off ratio, manual Table VII, approximated by 10⁶); digital storage, no variation",
    ),
    Device(
        name="pcm",
        technology="PCM",
        bits_per_cell=2,
        sigma_levels=0.5,
        r_on_ohm=40e3,
        on_off_ratio=12.5,
        cell_area_f2=48.0,
        source="representative PCM figures (Ron ≈ 40 kΩ, on/off ≈ 12.5); σ illustrative; drift ν ≈ 0.05 ± 0.01 "
        "as commonly reported for GST PCM (e.g. Joshi et al., Nat. Commun. 11, 2473, 2020: ν of order 0.05); illustrative",
        write_voltage_v=3.0,  # PCM RESET pulse of about 3 V (representative)
        drift_nu=0.05,
        drift_nu_std=0.01,
    ),
):
    register_device(_device)
del _device
