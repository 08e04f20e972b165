"""Calibration of the NeuroSim-like constants on the DNN+NeuroSim V1.3 VGG-8 report.

:func:`calibrate_neurosim_vgg8` re-derives every ``[calibrated]`` constant of
:data:`lightning_imc.hardware.components.CAL` from the published component totals (manual Fig. 24,
``published_hardware_figures.md`` §1). The values are hard-coded in ``components.py`` (rounded);
a test checks that they agree with this derivation. What is *not* used here — the array area, the
tiles per layer, the per-layer latency/energy of layers 1 and 8, the leakage energy, TOPS/W and the
ISAAC component figures — stays available for validation.
"""

from __future__ import annotations


from typing import Any

from ..devices import get_device
from . import components as comp
from .chip import ChipConfig
from .model import core, pack
from .network import Network

__all__ = ["NEUROSIM_VGG8", "calibrate_neurosim_vgg8"]

#: The DNN+NeuroSim V1.3 VGG-8 figures (manual Fig. 24), SI units.
NEUROSIM_VGG8: dict[str, Any] = {
    "area_mm2": 45.55, "area_arrays_mm2": 1.54, "area_adc_mm2": 14.61, "area_interconnect_mm2": 6.18,
    "area_accumulation_mm2": 3.13, "area_other_mm2": 20.09,
    "clock_period_s": 2.05e-9, "latency_s": 1.456e-3,
    "dynamic_energy_j": 37.75e-6, "energy_adc_j": 18.27e-6, "energy_accumulation_j": 5.17e-6,
    "energy_other_j": 14.31e-6, "energy_interconnect_j": 8.94e-6, "energy_buffer_j": 0.41e-6,
    "leakage_energy_j": 1.19e-6, "leakage_power_w": 629e-6,
    "tops_per_w": 25.72, "tops": 0.846, "fps": 686.75, "tops_per_mm2": 0.0186,
    "tiles_per_layer": [1, 1, 2, 2, 4, 4, 32, 1],
    "layer1_latency_s": 377_982e-9, "layer1_energy_j": 1.893e-6,
    "layer8_latency_s": 1_268e-9, "layer8_energy_j": 5.05e-9,
}


def calibrate_neurosim_vgg8(iterations: int = 4) -> dict[str, float]:
    """Solve the calibrated constants so that the VGG-8 component totals match NeuroSim's.

    Returns a copy of ``CAL`` with the calibrated entries replaced.
    """
    ref = NEUROSIM_VGG8
    net = Network.vgg8()
    chip = ChipConfig.neurosim_vgg8()
    dev = get_device("rram_vgg8")
    P = pack([net], [dev], [chip])
    cal = dict(comp.CAL)
    s_a = float(comp.area_scale(chip.node_nm))
    s_e = float(comp.energy_scale(chip.node_nm, chip.v_chip))
    for _ in range(iterations):
        o = core(P, cal, counts=True)
        c = o["counts"]
        n_conv = float(c["n_conv"].sum())
        n_adc = float(c["n_adc"][0])
        # ADC
        levels = 2.0 ** chip.adc_bits - 1.0
        # the column (sense) current is physics (conductance, read voltage, sensing window); the
        # overhead is the rest of NeuroSim's ADC energy
        e_col = float(c["e_col"].sum())
        cal["adc_e_overhead_j"] = (ref["energy_adc_j"] - e_col) / n_conv / s_e - cal["adc_flash_e_level_j"] * levels
        cal["adc_flash_a_level_um2"] = ref["area_adc_mm2"] * 1e6 / n_adc / levels / s_a
        # accumulation
        # accumulation = ISAAC's shift-and-add units (published) + adder trees (the rest)
        sa = float(c["sa_bitops"].sum())
        tree = float(c["acc_bitops"].sum()) - sa
        cal["accum_e_bit_j"] = (ref["energy_accumulation_j"] / s_e - sa * cal["shift_add_e_bit_j"]) / tree
        cal["accum_a_bit_um2"] = (ref["area_accumulation_mm2"] * 1e6 / (n_adc * float(c["acc_w"][0])) / s_a
                                  - cal["shift_add_a_bit_um2"])
        # buffer and interconnect
        bits = float(c["bits"].sum()) + float(c["tbits"].sum())
        cal["buffer_e_bit_j"] = ref["energy_buffer_j"] / bits / s_e
        ic_now = float(o["layer_parts"]["interconnect"].sum()) / (cal["ic_e_bit_mm_j"] * s_e)
        cal["ic_e_bit_mm_j"] = ref["energy_interconnect_j"] / ic_now / s_e
        # periphery: "other" energy minus interconnect, buffer and the cells themselves
        rest = ref["energy_other_j"] - ref["energy_interconnect_j"] - ref["energy_buffer_j"] - float(c["e_arr"].sum())
        n_lines = float((c["n_subact"] * c["R_plus_C"]).sum())
        cal["periph_e_line_j"] = rest / n_lines / s_e
        a_buf = float(c["buf_bits"][0]) * cal["buffer_a_bit_um2"] * s_a
        n_sub = float(o["subarrays"][0])
        a_ls = float(c["a_ls"][0])  # level shifters (RRAM writes at 2 V), an estimate kept out of the fit
        cal["periph_a_line_um2"] = (ref["area_other_mm2"] * 1e6 - a_buf - a_ls) / (n_sub * 256.0) / s_a
        cal["ic_a_bit_mm_um2"] = ref["area_interconnect_mm2"] * 1e6 / float(c["ic_units"][0]) / s_a
        # latency: buffers take one cycle per word (register files); an overhead per sensing step
        # closes the gap between the modelled cycles and the total
        t = chip.clock_period_s
        steps = float(c["sense_steps"].sum())
        t_rest = (float(c["t_compute"].sum()) - steps * cal["step_overhead_cycles"] * t + float(c["t_accum"].sum())
                  + (float(c["words"].sum()) + float(c["words_shared"].sum()) * cal["buffer_access_cycles"]) * t)
        cal["step_overhead_cycles"] = (ref["latency_s"] - t_rest) / (steps * t)
        # leakage power per mm² of CMOS periphery
        cal["leak_w_per_mm2"] = ref["leakage_power_w"] / (ref["area_mm2"] - ref["area_arrays_mm2"])
    return cal


if __name__ == "__main__":  # pragma: no cover
    new = calibrate_neurosim_vgg8()
    for key, value in new.items():
        print(f"{key:28s} {value:.6g}   (current {comp.CAL[key]:.6g})")
