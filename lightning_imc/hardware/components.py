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
    "adc_energy_j", "adc_area_um2", "adc_conversion_s", "mlsa_area_v14_um2", "level_shifter_area_um2",
    "crossbar_area_um2", "crossbar_read_energy_j",
    "shift_add_energy_j", "shift_add_area_um2",
    "area_scale", "energy_scale", "logic_feature_nm",
    "metal_width_nm", "node_vdd_v", "sram_cell_f2", "wire_scale",
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
    # Per-conversion overhead of the column readout (mux, reference, encoder, switch) (J, 22 nm),
    # beside the column current (sense_window_s). Solved so that the VGG-8 ADC energy is 18.27 µJ. [calibrated]
    "adc_e_overhead_j": 4.9423e-14,
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
    "periph_e_line_j": 2.1484e-14,
    # Sub-array periphery area per line (rows + cols) (µm², 22 nm), incl. PE/tile buffers and
    # pooling/activation units spread per sub-array; the level shifters are counted apart. [calibrated]
    "periph_a_line_um2": 6.7586,
    # Effective conduction time of a selected cell per read step (s), for crossbar_read_energy_j. [estimate]
    "cell_conduction_s": 0.1e-9,
    # Sensing window of a current-mode multi-level sense amplifier (s): the column current flows
    # for this long per conversion (capped by the device's read pulse). NeuroSim bounds the column
    # sensing latency to [1 ns, 10 ns] (MultilevelSenseAmp.cpp); we take the 1 ns bound.  [published]
    "sense_window_s": 1e-9,
    # Latency factor of the sensing cycle over the sensing window (NeuroSim Param.cpp, validated
    # mode: beta = 1.4), for the derived clock (ChipConfig.clock_hz = None).              [published]
    "sense_cycle_factor": 1.4,
    # FO4 inverter delay per nm of node (s/nm): FO4 ≈ 0.5 ps × feature size in nm, the rule of
    # thumb of Weste & Harris, CMOS VLSI Design (4th ed.); for the derived clock.          [published]
    "fo4_s_per_nm": 0.5e-12,
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
    # Level shifter (one per word line, bit line and source line of a sub-array whose cells are
    # written above 1.5 V), in F² of the cell's feature size. NeuroSim's LevelShifter.cpp sizes
    # three inverters: low-voltage input (N 30F, P 40F·p/n), latch (N 64F, P 20F·p/n) ×2 and
    # high-voltage pull-up (N 128F, P 164F·p/n), the latch and pull-up as I/O devices (2.5× wider
    # layout), in a 70 F tall cell and α = 1.44 for wiring. Folding these widths into the cell
    # height gives ≈ 70 F × 160 F × 1.44 ≈ 16,000 F² per level shifter.                  [estimate]
    "level_shifter_a_f2": 16000.0,
    # Chip model III (DNN+NeuroSim V1.4's sub-array, source at neurosim/DNN_NeuroSim_V1.4, files under
    # Inference_pytorch/NeuroSIM/; values evaluated from its formulas at 22 nm, F = node):
    # level shifter (LevelShifter.cpp:64-94, validated branch: low-voltage, latch and high-voltage
    # inverters of 2F minimum devices, 70 F cells, latch and pull-up 2.5× wider I/O devices, α = 1.44):
    # 10.01 µm² at 22 nm = 20,700 F² with F = node (tech.featureSize, LevelShifter.cpp:72-73).  [published]
    "level_shifter_v14_a_f2": 20700.0,
    # Current-mode sense amplifier of the multi-level sense amplifier, per level: 9 minimum NMOS
    # (MultilevelSenseAmp.cpp:176-177) = 0.927 µm² at 22 nm = 1,915 F² (F = node).          [published]
    "mlsa_a_level_f2": 1915.0,
    # Strips of a sub-array's width under its columns (SubArray.cpp:578-626, MultilevelSAEncoder.cpp:99-106):
    # the encoder strip is 4.88 µm tall at 22 nm (385 µm² under a 78.8 µm SRAM array) = 222 F,
    # the SRAM precharger strip 1.85 µm (146 µm²) = 84 F.                                    [published]
    "encoder_strip_h_f": 222.0,
    "precharger_strip_h_f": 84.0,
    # Bit-line capacitance per µm of wire (F/µm), for SRAM bit-line read energy: ≈ 0.2 fF/µm,
    # the usual on-chip wire capacitance over nodes (ITRS interconnect tables; Ho, Mai and
    # Horowitz, "The future of wires", Proc. IEEE 2001).                                  [published]
    "wire_c_f_per_um": 0.2e-15,
}

# ------------------------------------------------------------------------------------------------
# Technology tables (per node, nm). Intermediate nodes are interpolated on a log-log scale.
# ------------------------------------------------------------------------------------------------
#: Metal-1 wire width (nm) per node: DNN+NeuroSim V1.4 Param.cpp (wireWidth, = featuresize used for
#: cell and gate sizing; from foundry data for 14–7 nm and IRDS 2021–2022 for 5 nm). 180 nm: the
#: 130 nm ratio (1.35 × node), a extrapolation.
METAL_WIDTH_NM = {5: 15.0, 7: 20.0, 10: 22.0, 14: 32.0, 22: 40.0, 32: 56.0, 45: 80.0, 65: 105.0,
                  90: 110.0, 130: 175.0, 180: 243.0}
#: Nominal logic supply (V) per node: the PTM models in DNN+NeuroSim's Technology.cpp (V1.3/V1.4);
#: 180 nm: 1.8 V, the standard core supply of 180 nm CMOS.
NODE_VDD_V = {5: 0.70, 7: 0.70, 10: 0.75, 14: 0.80, 22: 0.85, 32: 0.90, 45: 1.0, 65: 1.1, 90: 1.2,
              130: 1.3, 180: 1.8}
#: 6T/8T SRAM cell area (F², F = metal width) per node: DNN+NeuroSim V1.4 Param.cpp (10×28 F² above
#: 14 nm; Samsung 14 nm 10.6×30.8; TSMC 10 nm 12.8×31.25; TSMC 7 nm 16×34.43; IRDS 5 nm 19.2×43.75).
SRAM_CELL_F2 = {5: 19.2 * 43.75, 7: 16.0 * 34.43, 10: 12.8 * 31.25, 14: 10.6 * 30.8, 22: 280.0, 180: 280.0}


#: Chip model III: area of V1.4's smallest logic inverter relative to 22 nm, below 22 nm. V1.4 draws
#: gates on 28 F tall cells down to 22 nm (area ∝ node²) and, at 14 nm and below, counts fins or nanosheets
#: on each node's cell height and poly pitch (IRDS and foundry figures, DNN+NeuroSim V1.4 formula.cpp
#: CalculateGateArea, constant.h:60-66, 102-115): the inverter is 576×156 nm at 14 nm, 180×102 nm at 5 nm.
LOGIC_AREA_V14 = {5: 0.178, 7: 0.266, 10: 0.410, 14: 0.872, 22: 1.0}


def _loglog(table: dict, node_nm):
    x = np.log(np.fromiter(table, dtype=float))
    y = np.log(np.fromiter(table.values(), dtype=float))
    return np.exp(np.interp(np.log(np.asarray(node_nm, dtype=float)), x, y))


def _by_int_node(table: dict) -> np.ndarray:
    """The table interpolated at every integer node 0..180 (0..4 repeat 5 nm): a lookup for speed."""
    return _loglog(table, np.maximum(np.arange(181), 5))


def _lookup(tab: np.ndarray, table: dict, node_nm):
    n = np.asarray(node_nm, dtype=float)
    idx = n.astype(int)
    if np.all(idx == n) and np.all((idx >= 5) & (idx <= 180)):
        return tab[idx]
    return _loglog(table, n)


_METAL_TAB, _VDD_TAB, _SRAM_TAB = (_by_int_node(t) for t in (METAL_WIDTH_NM, NODE_VDD_V, SRAM_CELL_F2))


def metal_width_nm(node_nm):
    """Metal-1 wire width (nm) at ``node_nm`` (table :data:`METAL_WIDTH_NM`, log-log interpolated)."""
    return _lookup(_METAL_TAB, METAL_WIDTH_NM, node_nm)


def node_vdd_v(node_nm):
    """Nominal supply voltage (V) at ``node_nm`` (table :data:`NODE_VDD_V`)."""
    return _lookup(_VDD_TAB, NODE_VDD_V, node_nm)


def sram_cell_f2(node_nm):
    """SRAM cell area (F², F = metal width) at ``node_nm`` (table :data:`SRAM_CELL_F2`)."""
    return _lookup(_SRAM_TAB, SRAM_CELL_F2, node_nm)


def logic_feature_nm(node_nm):
    """Feature size of CMOS logic (nm) under chip model III: the node down to 22 nm; below, the length
    whose square gives V1.4's logic area, 22 nm × √(:data:`LOGIC_AREA_V14`) (log-log interpolated; 9.3 nm
    at 5 nm, where node² would give 5 nm). Monotone in the node."""
    n = np.asarray(node_nm, dtype=float)
    idx = n.astype(int)
    if np.all(idx == n) and np.all((idx >= 5) & (idx <= 180)):
        return _LOGIC_TAB[idx]
    return _logic_feature(n)


def _logic_feature(n: np.ndarray) -> np.ndarray:
    factor = _loglog(LOGIC_AREA_V14, np.clip(n, 5.0, 22.0))
    return np.where(n >= 22.0, n, 22.0 * np.sqrt(factor))


_LOGIC_TAB = _logic_feature(np.maximum(np.arange(181), 5).astype(float))


def wire_scale(node_nm, ref_nm: float = REF_NODE_NM):
    """Wire pitch scaling factor (dimensionless): metal width at ``node_nm`` over that at ``ref_nm``."""
    return metal_width_nm(node_nm) / float(metal_width_nm(ref_nm))

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


def mlsa_area_v14_um2(bits, node_nm, rows, cell_f2, metal_nm, sram, cols_per_adc):
    """Area of one multi-level sense amplifier as DNN+NeuroSim V1.4 lays it out (µm², chip model III).

    Sum of (V1.4 source, ``Inference_pytorch/NeuroSIM/``):

    * the sense amplifiers, 2^b − 1 levels of 1,915 F² (F = node; MultilevelSenseAmp.cpp:176-177);
    * the dummy reference columns, (2^b − 1)/2^b of a ``rows``-cell column per ADC (``dumcolshared`` =
      levelOutput, Param.cpp:263), cells ``cell_f2`` F² whose height is drawn on the metal width and whose
      width on the node for SRAM, on the metal width otherwise (SubArray.cpp:159-160, 191-192);
    * the encoder strip (222 F tall, F the logic feature) and, for SRAM, the precharger strip (84 F) under the ADC's
      ``cols_per_adc`` columns, a column √(cell F²)·F wide (V1.4's cells are not square: SRAM 10×28 F²,
      1T1R 4×12 F²; the square root is this model's approximation, 0.6× V1.4's SRAM column width).

    At 22 nm, 128 rows, 8 columns per ADC, 4 bits: SRAM 13.9 + 29.6 + 14.4 + 5.5 = 63 µm², 1T1R RRAM
    13.9 + 9.2 + 5.9 = 29 µm² (V1.4: 76.6 and 33.4 µm²). Monotone increasing in bits, rows and node.
    """
    b = np.asarray(bits, dtype=float)
    f = np.asarray(node_nm, dtype=float) * 1e-3
    logic = logic_feature_nm(node_nm) * 1e-3
    wire = np.asarray(metal_nm, dtype=float) * 1e-3
    levels = 2.0 ** b - 1.0
    sram = np.asarray(sram, dtype=bool)
    csa = CAL["mlsa_a_level_f2"] * levels * logic ** 2
    dummy = (np.asarray(rows, dtype=float) * np.asarray(cell_f2, dtype=float) * wire * np.where(sram, f, wire)
             * levels / 2.0 ** b)
    col_w = np.sqrt(np.asarray(cell_f2, dtype=float)) * f * np.asarray(cols_per_adc, dtype=float)
    strips = (CAL["encoder_strip_h_f"] + np.where(sram, CAL["precharger_strip_h_f"], 0.0)) * logic * col_w
    return csa + dummy + strips


def level_shifter_area_um2(node_nm, f_cell_um, chip_model_iii):
    """Area of one level shifter (µm²): chip model III, V1.4's 20,700 F² at F = the logic feature (the node
    down to 22 nm, :func:`logic_feature_nm`; LevelShifter.cpp);
    II, the earlier estimate of 16,000 F² at the cell's feature size."""
    f = logic_feature_nm(node_nm) * 1e-3
    return np.where(chip_model_iii, CAL["level_shifter_v14_a_f2"] * f ** 2,
                    CAL["level_shifter_a_f2"] * np.asarray(f_cell_um, dtype=float) ** 2)


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
