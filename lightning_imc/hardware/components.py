"""Component models: ADC, crossbar, shift-and-add, buffers, interconnect (energy, area, timing).

All functions are vectorised: they accept NumPy arrays (or scalars) and broadcast. Units: energy
in J, area in µm², time in s, bits in bits, node in nm.

Scaling rules (first-order CMOS scaling, as used by NeuroSim's technology tables):

* area ∝ node²  (relative to the reference node of each constant);
* dynamic energy of digital/mixed-signal circuits ∝ node · (V / 1.1 V)².

Where each constant comes from is written next to it; :mod:`lightning_imc.hardware.calibration`
recomputes the ones calibrated on the DNN+NeuroSim VGG-8 report, and ``docs/hardware.md`` lists
what was calibrated against what and what was kept for validation.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CAL", "REF_NODE_NM", "REF_VDD",
    "adc_energy_j", "adc_area_um2", "adc_conversion_s",
    "crossbar_area_um2", "crossbar_read_energy_j",
    "shift_add_energy_j", "shift_add_area_um2",
    "area_scale", "energy_scale",
]

#: Reference node of the NeuroSim-calibrated constants (nm): the VGG-8 example runs at 22 nm.
REF_NODE_NM = 22.0
#: Reference supply voltage (V).
REF_VDD = 1.1
#: Reference node of the survey/ISAAC ADC fit (nm).
SURVEY_NODE_NM = 32.0

# ------------------------------------------------------------------------------------------------
# Constants. "calibrated" = solved from a published figure (see calibration.py, which recomputes
# them); "published" = taken from a cited source; "estimate" = an engineering estimate kept out of
# the validation.
# ------------------------------------------------------------------------------------------------
CAL: dict[str, float] = {
    # ADC, NeuroSim-like multi-level sense amplifier (flash): (2^b − 1) sense amplifiers fire per
    # conversion. Per-level energy: 3.09 µW per level at 32 nm (published_hardware_figures.md §2)
    # over a 1 ns sensing step = 3.09 fJ at 32 nm → scaled to 22 nm.                   [published]
    "adc_flash_e_level_j": 3.09e-15 * 22.0 / 32.0,
    # Per-conversion overhead of the column readout (mux, reference, encoder, switch) (J, 22 nm).
    # Solved so that the VGG-8 ADC energy is 18.27 µJ.                                 [calibrated]
    "adc_e_overhead_j": 1.2816e-13,
    # Area per sense-amplifier level (µm², 22 nm): 14.61 mm² over the 64,768 4-bit ADCs.  [calibrated]
    "adc_flash_a_level_um2": 15.038,
    # SAR, NeuroSim-like: P = (1.13·b + 8.90) µW per column at 32 nm, conversion (b+1) ns. [published]
    "sar_p_slope_w": 1.13e-6,
    "sar_p_offset_w": 8.90e-6,
    "sar_step_s": 1e-9,
    # SAR area: NeuroSim's transistor count (269+209) + (b−1)·(109+73) minimum-width devices;
    # ~0.06 µm² per minimum device at 22 nm.                                              [estimate]
    "sar_a_device_um2": 0.06,
    # Shift-and-add unit behind each ADC (adder + register), from ISAAC (32 nm): 0.05 mW at
    # 1.28 GHz for a 16-bit unit = 2.44 fJ per bit-operation, 60 µm² = 3.75 µm² per bit; scaled to
    # 22 nm (energy ∝ node, area ∝ node²).                                               [published]
    "shift_add_e_bit_j": 0.05e-3 / 1.28e9 / 16 * 22.0 / 32.0,
    "shift_add_a_bit_um2": 60.0 / 16 * (22.0 / 32.0) ** 2,
    # Adder trees (sub-array → PE → tile → chip accumulation): energy per bit-operation (J, 22 nm),
    # the rest of NeuroSim's "accumulation" energy after the shift-and-add units.         [calibrated]
    "accum_e_bit_j": 1.0324e-14,
    # Adder-tree area per ADC per accumulator bit (µm², 22 nm), the rest of NeuroSim's
    # "accumulation" area after the shift-and-add units.                                  [calibrated]
    "accum_a_bit_um2": 2.2547,
    # Sub-array periphery (WL decoder/drivers, column mux, switch matrix) per activated sub-array
    # and per line (rows + cols) (J, 22 nm).                                            [calibrated]
    "periph_e_line_j": 1.7785e-14,
    # Sub-array periphery area per line (rows + cols) (µm², 22 nm), incl. PE/tile buffers and
    # pooling/activation units spread per sub-array.                                     [calibrated]
    "periph_a_line_um2": 18.375,
    # Effective conduction time of a selected cell per read step (s). Only the ADC-selected
    # columns conduct during a sensing step; short current-mode sensing keeps it well below the
    # clock period.                                                                         [estimate]
    "cell_conduction_s": 0.1e-9,
    # Global buffer (register file) energy per bit read or written (J, 22 nm).           [calibrated]
    "buffer_e_bit_j": 1.3146e-14,
    # Global buffer area per bit (µm², 22 nm, register file).                               [estimate]
    "buffer_a_bit_um2": 1.0,
    # Buffer access time in clock cycles per interface word: NeuroSim's global and tile buffers are
    # register files (Param.cpp globalBufferType = tileBufferType = false), one access per cycle. [published]
    "buffer_access_cycles": 1.0,
    # Extra cycles per ADC sensing step (sub-array read path beyond NeuroSim's sensing and
    # shift-and-add cycles), closing the gap to NeuroSim's total VGG-8 latency.           [calibrated]
    "step_overhead_cycles": 7.5167,
    # H-tree interconnect energy per bit per mm of chip edge (J, 22 nm).                [calibrated]
    "ic_e_bit_mm_j": 1.4288e-13,
    # H-tree interconnect area per bus bit per mm of spanned edge (µm², 22 nm).         [calibrated]
    "ic_a_bit_mm_um2": 103.17,
    # Leakage power per mm² of CMOS periphery at the reference node (W/mm²).           [calibrated]
    "leak_w_per_mm2": 1.4292e-5,
}

# Survey / ISAAC-like SAR ADC at 32 nm, 1.2 GS/s, fitted by least squares to the Accelergy table of
# ISAAC's ADC scaled over 4..10 bits (published_hardware_figures.md §3; fit error < 2.2 % on energy,
# < 0.03 % on area):  E(b) = e0 + e1·b + e2·4^b  (pJ);  A(b) = a0 + a1·b + a2·2^b  (µm²).
SURVEY_E_PJ = (-0.106613, 0.219905, 2.79633e-7)
SURVEY_A_UM2 = (0.0410791, 81.7198, 2.13358)


def area_scale(node_nm, ref_nm: float = REF_NODE_NM):
    """Area scaling factor from ``ref_nm`` to ``node_nm`` (dimensionless): (node/ref)²."""
    return (np.asarray(node_nm, dtype=float) / ref_nm) ** 2


def energy_scale(node_nm, v_chip=REF_VDD, ref_nm: float = REF_NODE_NM):
    """Dynamic-energy scaling factor (dimensionless): (node/ref)·(V/1.1 V)²."""
    return (np.asarray(node_nm, dtype=float) / ref_nm) * (np.asarray(v_chip, dtype=float) / REF_VDD) ** 2


def _is_sar(adc_type):
    return np.asarray(adc_type) == "sar"


def adc_energy_j(bits, node_nm=REF_NODE_NM, adc_type="flash", adc_model="neurosim", v_chip=REF_VDD):
    """Energy of one ADC conversion (J).

    ``neurosim`` model: flash/MLSA ``e_level·(2^b − 1) + e_overhead``; SAR
    ``(1.13·b + 8.90) µW · (b+1) ns`` (at 32 nm) ``+ e_overhead``; both scaled with node·V².
    ``survey`` model: the ISAAC/Accelergy SAR fit, scaled by node/32 nm (type-independent).
    Monotone non-decreasing in ``bits`` for every model.
    """
    b = np.asarray(bits, dtype=float)
    s = energy_scale(node_nm, v_chip)
    flash = CAL["adc_flash_e_level_j"] * (2.0 ** b - 1.0)
    sar = (CAL["sar_p_slope_w"] * b + CAL["sar_p_offset_w"]) * (b + 1.0) * CAL["sar_step_s"] * (REF_NODE_NM / 32.0)
    neuro = (np.where(_is_sar(adc_type), sar, flash) + CAL["adc_e_overhead_j"]) * s
    e0, e1, e2 = SURVEY_E_PJ
    survey = np.maximum(e0 + e1 * b + e2 * 4.0 ** b, 0.05) * 1e-12
    survey = survey * (np.asarray(node_nm, dtype=float) / SURVEY_NODE_NM) * (np.asarray(v_chip, dtype=float) / REF_VDD) ** 2
    return np.where(np.asarray(adc_model) == "survey", survey, neuro)


def adc_area_um2(bits, node_nm=REF_NODE_NM, adc_type="flash", adc_model="neurosim"):
    """Area of one ADC (µm²). Monotone non-decreasing in ``bits`` for every model."""
    b = np.asarray(bits, dtype=float)
    flash = CAL["adc_flash_a_level_um2"] * (2.0 ** b - 1.0)
    sar = CAL["sar_a_device_um2"] * (478.0 + 182.0 * (b - 1.0))
    neuro = np.where(_is_sar(adc_type), sar, flash) * area_scale(node_nm)
    a0, a1, a2 = SURVEY_A_UM2
    survey = (a0 + a1 * b + a2 * 2.0 ** b) * area_scale(node_nm, SURVEY_NODE_NM)
    return np.where(np.asarray(adc_model) == "survey", survey, neuro)


def adc_conversion_s(bits, clock_period_s, adc_type="flash"):
    """Time of one conversion (s): one clock cycle for flash/MLSA; (b+1) steps of 1 ns (rounded
    up to whole cycles) for SAR."""
    b = np.asarray(bits, dtype=float)
    t = np.asarray(clock_period_s, dtype=float)
    sar_cycles = np.ceil((b + 1.0) * CAL["sar_step_s"] / t - 1e-9)
    return np.where(_is_sar(adc_type), np.maximum(sar_cycles, 1.0) * t, t)


def crossbar_area_um2(rows, cols, cell_area_f2, node_nm):
    """Area of a rows×cols array of cells of ``cell_area_f2`` F² at ``node_nm`` (µm²)."""
    f_um = np.asarray(node_nm, dtype=float) * 1e-3
    return np.asarray(rows, dtype=float) * np.asarray(cols, dtype=float) * np.asarray(cell_area_f2, dtype=float) * f_um ** 2


def crossbar_read_energy_j(cell_reads, v_read, g_on_s, g_off_s, conduction_s=None, activity=0.5):
    """Energy of ``cell_reads`` cell reads (J): activity · V² · mean(G) · t_conduction per read.

    ``activity`` is the fraction of input bits that are 1 (0.5 for random data).
    """
    t = CAL["cell_conduction_s"] if conduction_s is None else conduction_s
    g = 0.5 * (np.asarray(g_on_s, dtype=float) + np.asarray(g_off_s, dtype=float))
    return np.asarray(cell_reads, dtype=float) * activity * np.asarray(v_read, dtype=float) ** 2 * g * t


def shift_add_energy_j(width_bits, node_nm=REF_NODE_NM, v_chip=REF_VDD):
    """Energy of one shift-and-add of a ``width_bits``-wide partial sum (J)."""
    return CAL["shift_add_e_bit_j"] * np.asarray(width_bits, dtype=float) * energy_scale(node_nm, v_chip)


def shift_add_area_um2(width_bits, node_nm=REF_NODE_NM):
    """Area of one shift-and-add unit with a ``width_bits``-wide accumulator (µm²)."""
    return CAL["shift_add_a_bit_um2"] * np.asarray(width_bits, dtype=float) * area_scale(node_nm)
