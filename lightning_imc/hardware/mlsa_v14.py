"""DNN+NeuroSim V1.4's multi-level sense amplifier (current-mode flash ADC, "MLSA") and its sensing clock.

A re-implementation, from the formulas, of what V1.4's source does for a current-mode multi-level sense
amplifier in a conventional-parallel (partial-parallel) read: its sensing-delay table, its static-power
table, its energy per conversion and the synchronous clock it derives from them. Source:
``neurosim/DNN_NeuroSim_V1.4`` at commit ``ac828e6``; every ``file:line`` below is under
``Inference_pytorch/NeuroSIM/``. The per-node constants were transcribed from that source, or (the
device capacitances, access-transistor resistances, column capacitances and the delays of the
non-sensing clock parts) read from the compiled V1.4 evaluated by a driver that builds V1.4's
VGG-8 sub-array, 128 × 128 cells, 8 columns per ADC, LSTP devices at 300 K
(``/work/notes/v14_tables.md``, ``/work/notes/v14_driver/``).

All functions are vectorised: they accept NumPy arrays or scalars and broadcast. Units: resistance in
Ω, capacitance in F, time in s, energy in J, power in W, voltage in V, node in nm, ``bits`` is the ADC
resolution (L = 2**bits output levels, L − 1 comparator levels).

**Nodes.** V1.4 has tables at 130, 90, 65, 45, 32, 22, 14, 10, 7 and 5 nm (and 3, 2, 1 nm, outside this
project's 5..180 nm range and not kept here). At a table node each function is V1.4's. Between two table
nodes a function is evaluated at both, with the same inputs, and its *output* is interpolated log-log in
the node (linearly in ln(node) where one of the two outputs is not positive; only the static-power
table can go negative, far above any resistance a column sees). Above 130 nm, where V1.4 has no
technology, the 90 → 130 nm segment is extended: the output follows the power law of node through its
90 and 130 nm values. That is the trend of V1.4's own last two planar-bulk nodes (energy per conversion
∝ node^1.8, sensing delay ∝ node^0.3, the clock's mux-decoder path ∝ node^1.1), continued over at
most a further 1.38× in node. It is chosen over holding the 130 nm values, which would make a 180 nm
chip exactly as fast and efficient as a 130 nm one, and over an assumed scaling rule, which V1.4 does
not have. The outputs thereby carry V1.4's 1.2 → 1.3 V supply trend (≈ 1.4 V implied at 180 nm), not
the 1.8 V of :func:`lightning_imc.hardware.components.node_vdd_v`.

Each public function returns a float64 array of the broadcast shape of its inputs (a NumPy float for
scalar inputs), and raises ``ValueError`` naming the argument for a node outside 5..180 nm, ``bits``
outside 1..12 (ChipConfig's ranges) or a non-positive resistance, capacitance or row count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "BETA",
    "TABLE_NODES_NM",
    "column_capacitance_f",
    "column_resistance_ohm",
    "column_static_power_w",
    "conversion_energy_j",
    "word_line_energy_j",
    "mlsa_latency_s",
    "read_voltage_v",
    "reference_power_w",
    "sense_latency_s",
    "sensing_cycle_s",
    "sram_access_resistance_ohm",
    "switching_energy_j",
]

FloatArray = NDArray[np.float64]
#: What the public functions return: a float64 array of the broadcast shape, or a NumPy float for scalars.
FloatOut = Any

#: Latency factor of the sensing cycle, validated mode (Param.cpp:373).
BETA = 1.4
#: V1.4's technology nodes in this project's range (nm), ascending.
TABLE_NODES_NM: tuple[int, ...] = (5, 7, 10, 14, 22, 32, 45, 65, 90, 130)
_NODES = np.array(TABLE_NODES_NM, dtype=float)
#: Range of nodes accepted (nm): ChipConfig's.
NODE_MIN_NM, NODE_MAX_NM = 5.0, 180.0
#: ADC resolutions accepted (bits): ChipConfig's.
BITS_MIN, BITS_MAX = 1, 12
#: Wire capacitance per length used for V1.4's bit and word lines (F/m): 0.2 fF/µm (SubArray.cpp:197-199).
_C_WIRE_F_PER_M = 0.2e-15 / 1e-6
#: Sub-array size at which the per-node array and clock constants were evaluated.
_REF_ROWS = 128

# ------------------------------------------------------------------------------------------------
# Per-node tables.
# ------------------------------------------------------------------------------------------------
# ColumnLatency_Table, current mode (MultilevelSenseAmp.cpp:712-931): branches (upper bound, exclusive,
# or None for the last; "log": a·ln R + b; "lin": a·R + b) in s, then the column-capacitance
# correction's C_ref (F), dC (s), R2 (Ω) and R_th (Ω) (applied for R > R_th, :1150-1153).
# Source lines per node: 130 :723-736, 90 :738-750, 65 :752-764, 45 :766-778, 32 :780-792,
# 22 :794-807, 14 :809-829, 10 :830-845, 7 :846-860, 5 :861-879.
_Branches = tuple[tuple[float | None, str, float, float], ...]
_LATENCY: dict[int, tuple[_Branches, float, float, float, float]] = {
    130: (((1832.0, "log", -1.18573e-10, 2.54175e-09), (None, "lin", 3.78659e-14, 2.60629e-09)),
          26.62e-15, 2.0e-9, 1e5, 1.95e3),
    90: (((4832.0, "log", -1.08914e-10, 2.43204e-09), (None, "lin", 2.8688e-14, 2.31147e-09)),
         18.4e-15, 1.5e-9, 1e5, 4.83e3),
    65: (((4832.0, "log", -8.11436e-11, 2.2554e-09), (None, "lin", 2.12366e-14, 2.14339e-09)),
         13.3e-15, 1.2e-9, 1e5, 4.83e3),
    45: (((4832.0, "log", -1.12976e-10, 2.16762e-09), (None, "lin", 1.54619e-14, 1.60263e-09)),
         9.21e-15, 0.81e-9, 1e5, 4.83e3),
    32: (((4832.0, "log", -1.31777e-10, 2.03151e-09), (None, "lin", 1.15509e-14, 1.19475e-09)),
         6.55e-15, 0.55e-9, 1e5, 4.83e3),
    22: (((4832.0, "log", -1.32118e-10, 1.7552e-09), (None, "lin", 8.02517e-15, 8.51803e-10)),
         4.5e-15, 0.31e-9, 1e5, 12.7e3),
    14: (((812.0, "log", -7.01209e-11, 1.21771e-09), (2962.0, "log", -2.11644e-11, 8.96216e-10),
          (None, "lin", 6.18337e-15, 8.17633e-10)),
         2.86e-15, 0.29e-9, 1e5, 12.7e3),
    10: (((1128.0, "log", -7.20238e-11, 1.18578e-09), (4832.0, "log", -1.81368e-11, 8.16065e-10),
          (None, "lin", 4.72185e-15, 7.28474e-10)),
         2.04e-15, 0.27e-9, 1e5, 12.7e3),
    7: (((4832.0, "log", -4.67061e-11, 1.03708e-09), (None, "lin", 3.72084e-15, 7.02172e-10)),
        1.43e-15, 0.13e-9, 1e5, 12.7e3),
    5: (((4832.0, "log", -4.33009e-11, 9.79525e-10), (7847.0, "log", -3.15954e-12, 6.53005e-10),
         (None, "lin", 2.77641e-15, 6.46706e-10)),
        1.02e-15, 0.09e-9, 1e5, 12.7e3),
}

# GetColumnPower, LSTP branch (deviceroadmap = 2, Param.cpp:72), W per comparator level as a function of
# R' = R·0.5 V/V_read (MultilevelSenseAmp.cpp:487, 523-687). Source lines per node: 130 :527-541,
# 90 :542-556, 65 :558-572, 45 :573-588, 32 :590-604, 22 :606-617, 14 :619-631, 10 :632-640, 7 :642-649,
# 5 :651-658.
_POWER: dict[int, _Branches] = {
    130: ((4832.0, "lin", -4.12599e-11, 1.48536e-06), (379269.0, "log", -2.6617e-07, 3.56576e-06),
          (None, "log", -1.25872e-07, 1.81453e-06)),
    90: ((4832.0, "lin", -1.67004e-11, 8.54958e-07), (379269.0, "log", -1.50719e-07, 2.0858e-06),
         (None, "log", -8.89685e-08, 1.3007e-06)),
    65: ((4832.0, "lin", -6.08647e-12, 4.82814e-07), (379269.0, "log", -8.03449e-08, 1.16437e-06),
         (None, "log", -6.01171e-08, 8.9355e-07)),
    45: ((4832.0, "lin", -3.96471e-12, 3.44344e-07), (379269.0, "log", -5.66235e-08, 8.27849e-07),
         (None, "log", -4.32673e-08, 6.46111e-07)),
    32: ((4832.0, "lin", -6.72783e-12, 4.19847e-07), (379269.0, "log", -7.28881e-08, 1.02677e-06),
         (None, "log", -4.35333e-08, 6.4697e-07)),
    22: ((4832.0, "lin", -2.85373e-11, 9.16744e-07), (379269.0, "log", -1.63133e-07, 2.1687e-06),
         (None, "log", -5.8712e-08, 8.64648e-07)),
    14: ((7847.0, "lin", -3.11213e-13, 5.34821e-08), (None, "log", -9.64978e-09, 1.44527e-07)),
    10: ((20691.0, "lin", -3.27225e-13, 5.54082e-08), (None, "log", -9.99199e-09, 1.49539e-07)),
    7: ((20691.0, "lin", -2.62089e-13, 4.7357e-08), (None, "log", -8.49198e-09, 1.27848e-07)),
    5: ((20691.0, "lin", -1.4179e-13, 3.31434e-08), (None, "log", -5.76552e-09, 8.89536e-08)),
}

#: Read voltage per node (V): Param.cpp:351-363, the same table as MultilevelSenseAmp.cpp:280-304.
_V_READ: dict[int, float] = {130: 0.58, 90: 0.58, 65: 0.55, 45: 0.51, 32: 0.51, 22: 0.55, 14: 0.277, 10: 0.28,
                             7: 0.264, 5: 0.253}

# Sense amplifier devices (MultilevelSenseAmp.cpp:125-126, 144-147: INVs of a 2F NMOS and a pnRatio·2F PMOS,
# F = node) and the LSTP supply (Technology.cpp:130, 244, 358, 472, 586, 700, 764, 840, 916, 997):
# (Vdd V, C_gate,N, C_gate,P, C_junction,N, C_junction,P in fF), as the compiled V1.4 computes them.
_DEVICE: dict[int, tuple[float, float, float, float, float]] = {
    5: (0.7, 0.081859, 0.081859, 0.0022134, 0.0022134),
    7: (0.7, 0.100497, 0.100497, 0.00335838, 0.00335838),
    10: (0.75, 0.097549, 0.097549, 0.0045024, 0.0045024),
    14: (0.8, 0.103816, 0.103816, 0.00499162, 0.00499162),
    22: (0.85, 0.0629112, 0.0830046, 0.0372743, 0.0412804),
    32: (0.9, 0.108205, 0.162361, 0.0549692, 0.0646434),
    45: (1.0, 0.176101, 0.293619, 0.0781369, 0.0974257),
    65: (1.1, 0.311125, 0.521365, 0.115757, 0.146732),
    90: (1.2, 0.505745, 0.874386, 0.165789, 0.217194),
    130: (1.3, 0.827305, 1.65077, 0.254118, 0.372175),
}

# Array side, 128 × 128 sub-array, as the compiled V1.4 computes it: (SRAM access-NMOS on-resistance
# resCellAccess Ω (SubArray.cpp:215), SRAM bit-line capacitance capCol fF (:199, 228-230), SRAM word-line
# capacitance capRow1 fF (:197, 251), 1T1R bit-line capacitance capCol fF (:199, 364-365)).
_ARRAY: dict[int, tuple[float, float, float, float]] = {
    5: (23972.5, 5.11488, 16.078, 0.795315),
    7: (23861.3, 5.71392, 19.0335, 1.14667),
    10: (26692.1, 6.69184, 20.4863, 1.60031),
    14: (30542.1, 6.99776, 24.3272, 2.07253),
    22: (86357.3, 9.60036, 19.7959, 5.973),
    32: (82941.1, 13.991, 29.8627, 8.65955),
    45: (78635.2, 19.6716, 43.5264, 12.0735),
    65: (74884.6, 28.5234, 66.504, 17.3632),
    90: (68149.0, 39.7476, 96.8797, 23.8708),
    130: (51213.8, 58.2162, 146.132, 33.7674),
}

#: 1T1R word-line capacitance capRow2 (fF) of a 128-column sub-array, as the compiled V1.4 computes it
#: (SubArray.cpp:197-198, 364-365: the row wire over the cells plus the access transistors' gates); below
#: 22 nm V1.4 refuses RRAM (main.cpp:86-89): its formulas run there anyway.
_ROW_CAP_RRAM_FF: dict[int, float] = {5: 12.01, 7: 15.01, 10: 15.56, 14: 17.59, 22: 9.540, 32: 14.43, 45: 20.91,
                                      65: 31.90, 90: 45.29, 130: 61.63}

#: Cell height (F, F = node) of V1.4's cells, on which the bit line is drawn (Param.cpp:278-312, 339):
#: SRAM per node; 1T1R 4 F at every node.
_SRAM_CELL_H_F: dict[int, float] = {5: 19.2, 7: 16.0, 10: 12.8, 14: 10.6, 22: 10.0, 32: 10.0, 45: 10.0, 65: 10.0,
                                    90: 10.0, 130: 10.0}
_RRAM_CELL_H_F = 4.0

# Non-sensing parts of the sensing cycle (ns), compiled V1.4 at the VGG-8 sub-array (128 × 128, 8:1 column
# mux, conventional parallel), p = numRowParallel = 32 and 64:
# SRAM (row path = WL switch matrix, mux @32, mux decoder @32, mux @64, mux decoder @64, precharger),
# 1T1R (row path = new WL switch matrix, mux @32, decoder @32, mux @64, decoder @64); SubArray.cpp:998-1012
# (SRAM) and :1292-1301 (1T1R), switch matrices SwitchMatrix.cpp / NewSwitchMatrix.cpp, Mux.cpp (its
# transmission gates sized for resCellAccess/(p/2) (SRAM, SubArray.cpp:276) or resMemCellAvg/p (1T1R)),
# RowDecoder.cpp, Precharger.cpp.
_PATH: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    5: ((0.00823908, 0.00113274, 0.0493397, 0.00113274, 0.0582991, 0.0237136),
        (0.00988912, 0.00113274, 0.0415187, 0.00129456, 0.0442765)),
    7: ((0.00531319, 0.00143512, 0.0581788, 0.00143512, 0.068022, 0.033074),
        (0.0119144, 0.00143512, 0.0500458, 0.00143512, 0.0522321)),
    10: ((0.00562166, 0.00156496, 0.0628156, 0.00156496, 0.0709009, 0.0326695),
         (0.0116522, 0.00156496, 0.0554736, 0.00156496, 0.0581088)),
    14: ((0.00734763, 0.00191245, 0.0833488, 0.00191245, 0.0897523, 0.0379783),
         (0.0168746, 0.00191245, 0.0779842, 0.00191245, 0.0800665)),
    22: ((0.014138, 0.00319724, 0.0769842, 0.00308212, 0.0813731, 0.03314),
         (0.00692795, 0.00327776, 0.0757641, 0.00312237, 0.079146)),
    32: ((0.0104517, 0.00515983, 0.839294, 0.0050536, 1.53725, 0.0523089),
         (0.0189892, 0.00524593, 0.637856, 0.00509665, 1.13474)),
    45: ((0.0105714, 0.00867565, 1.36617, 0.00846695, 2.50412, 0.0771172),
         (0.0243318, 0.00838149, 0.995642, 0.00817527, 1.76378)),
    65: ((0.0131802, 0.013486, 2.29824, 0.0132978, 4.21794, 0.107135),
         (0.0353098, 0.0136954, 1.61131, 0.0134025, 2.84545)),
    90: ((0.0230112, 0.0210459, 3.45362, 0.0206959, 6.34162, 0.141239),
         (0.0462374, 0.0203359, 2.25303, 0.0199369, 3.943)),
    130: ((0.0219394, 0.0309853, 5.18123, 0.0307359, 9.60025, 0.179565),
          (0.0505232, 0.0395504, 2.70096, 0.0310541, 4.64539)),
}

# Multi-level SA encoder delay (ns) for bits = 1..12 (MultilevelSAEncoder.cpp:157-191: an INV → NAND2 stage
# and a NAND2 → (L/2)-input NAND stage, Horowitz), compiled V1.4, same for SRAM and 1T1R.
_ENCODER: dict[int, tuple[float, ...]] = {
    5: (0.0273617, 0.0327828, 0.0421835, 0.0594955, 0.0928241, 0.158532, 0.289347, 0.550632, 1.07302, 2.11769,
        4.20698, 8.38554),
    7: (0.0335971, 0.040202, 0.0516795, 0.0728307, 0.113557, 0.193853, 0.353708, 0.672996, 1.31135, 2.58793,
        5.14103, 10.2472),
    10: (0.0367574, 0.0438989, 0.0563462, 0.0793073, 0.123528, 0.210715, 0.38429, 0.73098, 1.42411, 2.81025,
         5.58246, 11.1268),
    14: (0.0445813, 0.0533083, 0.0684838, 0.0964536, 0.150307, 0.256481, 0.467852, 0.890033, 1.73409, 3.42206,
         6.79791, 13.5496),
    22: (0.047365, 0.0554743, 0.0698483, 0.0964432, 0.147597, 0.248326, 0.448744, 0.84897, 1.64909, 3.24915,
         6.44919, 12.8492),
    32: (0.0809047, 0.0950824, 0.12013, 0.166438, 0.25552, 0.430969, 0.780091, 1.47729, 2.87114, 5.65853,
         11.2332, 22.3823),
    45: (0.128945, 0.151919, 0.192414, 0.267243, 0.411209, 0.694796, 1.25914, 2.38617, 4.63935, 9.14523,
         18.1567, 36.1797),
    65: (0.214673, 0.253477, 0.321753, 0.447884, 0.690594, 1.16877, 2.1204, 4.02094, 7.82054, 15.419, 30.6154,
         61.0081),
    90: (0.319706, 0.377979, 0.48042, 0.669648, 1.03382, 1.75138, 3.17949, 6.03165, 11.7338, 23.1369, 45.9425,
         91.5534),
    130: (0.419796, 0.496527, 0.63141, 0.880595, 1.36022, 2.30531, 4.18633, 7.94305, 15.4536, 30.4732, 60.5117,
          120.588),
}
_ENCODER_S = {n: np.array(v) * 1e-9 for n, v in _ENCODER.items()}


# ------------------------------------------------------------------------------------------------
# Input checks.
# ------------------------------------------------------------------------------------------------
def _real(x: ArrayLike, name: str) -> FloatArray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be real numbers, got {x!r}") from exc
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return a


def _check_node(node_nm: ArrayLike) -> FloatArray:
    n = _real(node_nm, "node_nm")
    if np.any((n < NODE_MIN_NM) | (n > NODE_MAX_NM)):
        raise ValueError(f"node_nm must be in [{NODE_MIN_NM:g}, {NODE_MAX_NM:g}] nm, got {node_nm!r}")
    return n


def _check_bits(bits: ArrayLike) -> FloatArray:
    b = _real(bits, "bits")
    if np.any(b != np.round(b)) or np.any((b < BITS_MIN) | (b > BITS_MAX)):
        raise ValueError(f"bits must be integers in [{BITS_MIN}, {BITS_MAX}], got {bits!r}")
    return b


def _check_positive(x: ArrayLike, name: str, minimum: float = 0.0, inclusive: bool = False) -> FloatArray:
    a = _real(x, name)
    bad = (a < minimum) if inclusive else (a <= minimum)
    if np.any(bad):
        rel = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be {rel} {minimum:g}, got {x!r}")
    return a


def _check_bool(x: ArrayLike, name: str) -> NDArray[np.bool_]:
    a = np.asarray(x)
    if a.dtype != bool and not (np.issubdtype(a.dtype, np.integer) and np.all((a == 0) | (a == 1))):
        raise ValueError(f"{name} must be booleans, got {x!r}")
    return a.astype(bool)


# ------------------------------------------------------------------------------------------------
# Node interpolation.
# ------------------------------------------------------------------------------------------------
def _over_nodes(node: FloatArray, kernel: Callable[..., Any], *args: NDArray[Any]) -> Any:
    """Evaluate ``kernel(table_node, *args)`` at the table nodes that bracket each ``node`` and interpolate
    the outputs log-log in the node (linearly in ln node where an output is not positive); above 130 nm the
    90 → 130 nm segment is extended. Returns an array of the broadcast shape (a NumPy scalar for scalars)."""
    arrays = np.broadcast_arrays(node, *args)
    shape = arrays[0].shape
    flat = [a.ravel() for a in arrays]
    n = flat[0]
    hi = np.minimum(np.searchsorted(_NODES, n, side="left"), len(_NODES) - 1)
    exact = _NODES[hi] == n
    lo = np.where(exact, hi, hi - 1)
    n_lo, n_hi = _NODES[lo], _NODES[hi]
    w = np.where(exact, 0.0, np.log(n / n_lo) / np.log(np.where(exact, 2.0 * n_lo, n_hi) / n_lo))
    y_lo = np.empty(n.shape)
    y_hi = np.empty(n.shape)
    for k in np.unique(np.concatenate([lo, hi])):
        node_k = TABLE_NODES_NM[int(k)]
        for idx, out, mask_extra in ((lo, y_lo, np.ones_like(exact)), (hi, y_hi, ~exact)):
            m = (idx == k) & mask_extra
            if np.any(m):
                out[m] = kernel(node_k, *(a[m] for a in flat[1:]))
    y_hi = np.where(exact, y_lo, y_hi)
    pos = (y_lo > 0) & (y_hi > 0)
    safe_lo = np.where(pos, y_lo, 1.0)
    safe_hi = np.where(pos, y_hi, 1.0)
    loglog = np.exp(np.log(safe_lo) + w * (np.log(safe_hi) - np.log(safe_lo)))
    lin = y_lo + w * (y_hi - y_lo)
    y = np.where(exact, y_lo, np.where(pos, loglog, lin))
    return y.reshape(shape)[()]


def _piecewise(branches: _Branches, x: FloatArray) -> FloatArray:
    """A per-node fit: the first branch whose upper bound exceeds ``x`` (V1.4 tests ``x < bound``)."""
    out = np.zeros_like(x)
    done = np.zeros(x.shape, dtype=bool)
    lnx = np.log(x)
    for upper, kind, a, b in branches:
        m = ~done if upper is None else (~done & (x < upper))
        out = np.where(m, a * (lnx if kind == "log" else x) + b, out)
        done |= m
    return out


# ------------------------------------------------------------------------------------------------
# Kernels at one table node (inputs already checked and broadcast).
# ------------------------------------------------------------------------------------------------
def _latency_k(node: int, r: FloatArray, c_eff: FloatArray) -> FloatArray:
    branches, c_ref, d_c, r2, r_th = _LATENCY[node]
    t = _piecewise(branches, r)
    corr = d_c / (r2 - r_th) * (r - r_th) * (c_eff - c_ref) / c_ref
    return t + np.where(r > r_th, corr, 0.0)


def _c_eff(node: int, c_col: FloatArray, levels: FloatArray) -> FloatArray:
    """Capacitance of V1.4's latency correction: columncap + C_gN·(Rref.size() − 2) = + (L − 3)·C_gN
    (MultilevelSenseAmp.cpp:1151), the (L − 3) floored at 0 (it is −1 at 1 bit)."""
    return c_col + np.maximum(levels - 3.0, 0.0) * _DEVICE[node][1] * 1e-15


def _p_level_k(node: int, r: FloatArray, v_read: FloatArray | float) -> FloatArray:
    return _piecewise(_POWER[node], r * 0.5 / v_read)


def _mlsa_latency_k(node: int, bits: FloatArray, r_unit: FloatArray, p: FloatArray, c_col: FloatArray) -> FloatArray:
    levels = 2.0 ** bits
    r0 = r_unit / p
    c_eff = _c_eff(node, c_col, levels)
    t_top = _latency_k(node, r0 * levels / 2.0, c_eff)                       # Rref[L−2]
    r1 = np.where(levels > 2, r0 * levels / np.maximum(levels - 1.0, 1.0), r0)  # Rref[1] (Rref[0] at 1 bit)
    return np.maximum(t_top, _latency_k(node, r1, c_eff))


def _ref_power_k(node: int, bits: FloatArray, r_unit: FloatArray, p: FloatArray) -> FloatArray:
    levels = 2.0 ** bits
    r0 = r_unit / p
    acc = np.zeros_like(r0)
    for lev in np.unique(levels):
        rungs = np.arange(1.0, lev - 2.0)                       # i = 1 .. L − 3
        if rungs.size == 0:
            continue
        idx = np.flatnonzero(levels == lev)
        step = max(1, (1 << 20) // rungs.size)                  # bound the (elements × rungs) block
        for start in range(0, idx.size, step):
            sel = idx[start:start + step]
            r_i = r0[sel, None] * lev / (lev - rungs[None, :])
            acc[sel] = _p_level_k(node, r_i, _V_READ[node]).sum(axis=1)
    # each P_col(Rref[i]) is (L − 1) levels; the dummy reference columns are shared by D = L ADCs
    return acc * (levels - 1.0) / levels


def _switching_k(node: int, bits: FloatArray, c_col: FloatArray, sram: NDArray[np.bool_], rows: FloatArray,
                 quirk: bool) -> FloatArray:
    vdd, cgn, cgp, cjn, cjp = _DEVICE[node]
    cgn, cgp, cjn, cjp = (c * 1e-15 for c in (cgn, cgp, cjn, cjp))
    levels = 2.0 ** bits
    d = levels                                                    # dumcolshared = levelOutput
    v_r = _V_READ[node]
    inv_lm1 = np.floor(1.0 / (levels - 1.0)) if quirk else 1.0 / (levels - 1.0)
    e_refperi = np.where(sram, _ARRAY[node][2] * 1e-15 / _REF_ROWS * vdd ** 2 * rows, 0.0)
    e_sw = (c_col * (inv_lm1 + 1.0 / d) * v_r ** 2
            + e_refperi / d
            + (2.0 * cgn + (cjn + cgn) / (levels - 1.0) + (cjn + cgn) / d) * v_r ** 2
            + (6.0 * cgp + 5.0 * cgn + 4.0 * cjp + 3.0 * cjn) * vdd ** 2)
    return (levels - 1.0) * e_sw


def _energy_k(node: int, bits: FloatArray, r_col: FloatArray, r_unit: FloatArray, p: FloatArray,
              c_col: FloatArray, sram: NDArray[np.bool_], rows: FloatArray, quirk: bool) -> FloatArray:
    levels = 2.0 ** bits
    t_col = _mlsa_latency_k(node, bits, r_unit, p, c_col)
    p_col = (levels - 1.0) * _p_level_k(node, r_col, _V_READ[node])
    p_ref = _ref_power_k(node, bits, r_unit, p)
    return _switching_k(node, bits, c_col, sram, rows, quirk) + np.maximum((p_col + p_ref) * t_col, 0.0)


def _linear_in_p(y32: float, y64: float, p: FloatArray) -> FloatArray:
    return np.maximum(y32 + (y64 - y32) * (p - 32.0) / 32.0, 0.0)


def _cycle_k(node: int, bits: FloatArray, r_unit: FloatArray, p: FloatArray, c_col: FloatArray,
             sram: NDArray[np.bool_], mux_decoder: bool) -> FloatArray:
    s, r = _PATH[node]
    dec = 1.0 if mux_decoder else 0.0
    path_s = np.maximum(s[0], _linear_in_p(s[1], s[3], p) + dec * _linear_in_p(s[2], s[4], p)) + s[5]
    path_r = np.maximum(r[0], _linear_in_p(r[1], r[3], p) + dec * _linear_in_p(r[2], r[4], p))
    path = np.where(sram, path_s, path_r) * 1e-9
    enc = _ENCODER_S[node][bits.astype(int) - 1]
    return BETA * (path + _mlsa_latency_k(node, bits, r_unit, p, c_col) + enc)


# ------------------------------------------------------------------------------------------------
# Public API.
# ------------------------------------------------------------------------------------------------
def sense_latency_s(node_nm: ArrayLike, r_ohm: ArrayLike, c_col_f: ArrayLike, bits: ArrayLike = 4) -> FloatOut:
    """Sensing delay of the current-mode sense amplifier against a column (or reference) of ``r_ohm`` (s).

    V1.4's ``ColumnLatency_Table`` in current mode (MultilevelSenseAmp.cpp:712-931): the node's
    piecewise fit of the worst-case Cadence delay (logarithmic in R below the node's threshold(s), falling
    with R; linear above, rising with R), plus, for R > R_th, the column-capacitance correction
    dC/(R2 − R_th)·(R − R_th)·(C − C_ref)/C_ref (:1150-1153) with C = ``c_col_f`` + (2^bits − 3)·C_gate,N
    of the sense amplifier (the ladder's reference inputs on the column, :1151). ``c_col_f`` is the
    bit-line capacitance (V1.4's ``param->columncap``, :func:`column_capacitance_f`). The correction is
    negative where C < C_ref, as in V1.4. No read-voltage scaling (V1.4 has none here).
    """
    n = _check_node(node_nm)
    r = _check_positive(r_ohm, "r_ohm")
    c = _check_positive(c_col_f, "c_col_f", inclusive=True)
    b = _check_bits(bits)
    return _over_nodes(n, lambda k, r_, c_, b_: _latency_k(k, r_, _c_eff(k, c_, 2.0 ** b_)), r, c, b)


def column_static_power_w(node_nm: ArrayLike, r_ohm: ArrayLike, v_read_v: ArrayLike) -> FloatOut:
    """Static (current-mirror) power of the sense amplifier per comparator level at column resistance
    ``r_ohm`` read at ``v_read_v`` (W per level; multiply by 2^bits − 1 for one ADC's column).

    V1.4's ``GetColumnPower`` LSTP branch at 300 K (MultilevelSenseAmp.cpp:483-709): the node's piecewise
    Cadence fit (linear then logarithmic in R, falling with R) at R' = R·0.5 V/V_read (:487, the fits were
    made at 0.5 V), the temperature factor 1 + 1.3e-3·(T − 300 K) = 1 (:707, Param.cpp:125). Like V1.4's,
    the logarithmic branches go negative at very large R' (≈ 1.8 MΩ at 130 nm); V1.4 clamps only the
    energy (:317), so does :func:`conversion_energy_j`. V1.4's special cases R = ∞ (1 µW) and R = 0 (0 W)
    are refused here (``r_ohm`` must be finite and > 0). ``v_read_v`` would be V1.4's
    :func:`read_voltage_v` to reproduce it.
    """
    n = _check_node(node_nm)
    r = _check_positive(r_ohm, "r_ohm")
    v = _check_positive(v_read_v, "v_read_v")
    return _over_nodes(n, _p_level_k, r, v)


def reference_power_w(node_nm: ArrayLike, bits: ArrayLike, r_unit_ohm: ArrayLike,
                      rows_in_parallel: ArrayLike) -> FloatOut:
    """Static power of the dummy reference columns charged to one conversion (W).

    V1.4's ``refpower`` (MultilevelSenseAmp.cpp:263-268): Σ_{i=1}^{L−3} P_col(Rref[i]) / D with
    P_col = (L − 1)·:func:`column_static_power_w` at V1.4's :func:`read_voltage_v`, the reference ladder
    Rref[i] = (R_unit/p)/(1 − i/L) (:67-94; R_unit = ``r_unit_ohm``, p = ``rows_in_parallel``) and
    D = ``dumcolshared`` = L (Param.cpp:263), L = 2^bits.
    """
    n = _check_node(node_nm)
    b = _check_bits(bits)
    ru = _check_positive(r_unit_ohm, "r_unit_ohm")
    p = _check_positive(rows_in_parallel, "rows_in_parallel", 1.0, inclusive=True)
    return _over_nodes(n, _ref_power_k, b, ru, p)


def switching_energy_j(node_nm: ArrayLike, bits: ArrayLike, c_col_f: ArrayLike, sram: ArrayLike,
                       rows: ArrayLike = _REF_ROWS, *, integer_division_quirk: bool = True) -> FloatOut:
    """Switching energy of one conversion, (L − 1)·E_sw (J), L = 2^bits.

    V1.4's ``Column_SwitchingE`` (MultilevelSenseAmp.cpp:306-314), per comparator level:

    * column interface: C_col·(1/(L − 1) + 1/D)·V_read², C_col = ``c_col_f``, D = L. In V1.4 ``1/(L−1)`` is
      integer division (``levelOutput`` is an ``int``, MultilevelSenseAmp.h:75), 0 for L > 2 and 1 at 1 bit;
      reproduced by default, ``integer_division_quirk=False`` gives the real quotient;
    * SRAM only, the dummy reference column's word lines: E_refperi/D, E_refperi = C_row/numCol·Vdd²·rows
      (SubArray.cpp:1541), C_row/numCol the per-cell word-line capacitance of V1.4's SRAM row (capRow1,
      :197, 251); 0 for 1T1R (:1819 is commented out);
    * sense-amplifier input and mirror: (2·C_gN + (C_jN + C_gN)/(L − 1) + (C_jN + C_gN)/D)·V_read²;
    * sense amplifier, latch and encoder interface: (6·C_gP + 5·C_gN + 4·C_jP + 3·C_jN)·Vdd².

    V_read is V1.4's per node (:280-304), Vdd its LSTP supply, C_g/C_j its sense-amplifier devices.
    ``rows`` is the sub-array's row count (the height of the dummy column).
    """
    n = _check_node(node_nm)
    b = _check_bits(bits)
    c = _check_positive(c_col_f, "c_col_f", inclusive=True)
    s = _check_bool(sram, "sram")
    rw = _check_positive(rows, "rows", 1.0, inclusive=True)
    return _over_nodes(n, lambda k, b_, c_, s_, r_: _switching_k(k, b_, c_, s_, r_, integer_division_quirk),
                       b, c, s, rw)


def mlsa_latency_s(node_nm: ArrayLike, bits: ArrayLike, r_unit_ohm: ArrayLike, rows_in_parallel: ArrayLike,
                   c_col_f: ArrayLike) -> FloatOut:
    """Sensing time of one conversion, V1.4's ``LatencyCol`` (s).

    max(:func:`sense_latency_s` at Rref[L − 2], at Rref[1]) (MultilevelSenseAmp.cpp:224-227, recomputed in
    CalculatePower :260-262), the ends of the reference ladder Rref[i] = (R_unit/p)/(1 − i/L) (:67-94):
    Rref[L − 2] = R_unit·L/(2p), Rref[1] = R_unit·L/((L − 1)p). R_unit = ``r_unit_ohm`` (SRAM: the access
    NMOS's on-resistance, :func:`sram_access_resistance_ohm`, :71-81; 1T1R: the device's R_on alone, :86-94:
    V1.4's ladder has no access-transistor or wire term, those enter only the column,
    :func:`column_resistance_ohm`), p = ``rows_in_parallel``. Data-independent. At 1 bit the ladder has a
    single reference Rref[0] = R_unit/p, used for both ends (V1.4 reads past its ladder there).
    """
    n = _check_node(node_nm)
    b = _check_bits(bits)
    ru = _check_positive(r_unit_ohm, "r_unit_ohm")
    p = _check_positive(rows_in_parallel, "rows_in_parallel", 1.0, inclusive=True)
    c = _check_positive(c_col_f, "c_col_f", inclusive=True)
    return _over_nodes(n, _mlsa_latency_k, b, ru, p, c)


def conversion_energy_j(node_nm: ArrayLike, bits: ArrayLike, r_col_ohm: ArrayLike, r_unit_ohm: ArrayLike,
                        rows_in_parallel: ArrayLike, c_col_f: ArrayLike, sram: ArrayLike,
                        rows: ArrayLike = _REF_ROWS, *, integer_division_quirk: bool = True) -> FloatOut:
    """Energy of one conversion of one column by the multi-level sense amplifier (J).

    V1.4's ``MultilevelSenseAmp::CalculatePower``, current mode (MultilevelSenseAmp.cpp:240-317), per
    column: (L − 1)·E_sw + max((P_col(R_col) + P_ref)·T_col, 0), with L = 2^bits,

    * (L − 1)·E_sw: :func:`switching_energy_j` (incl. the SRAM dummy-column word-line term and, by default,
      V1.4's integer ``1/(L−1)``);
    * P_col(R_col) = (L − 1)·:func:`column_static_power_w` (``r_col_ohm``, V1.4's V_read);
    * P_ref: :func:`reference_power_w`, references from R_unit = ``r_unit_ohm`` and p = ``rows_in_parallel``,
      dumcolshared = L;
    * T_col: :func:`mlsa_latency_s` at those references.

    ``r_col_ohm`` is the column as V1.4's ``GetColumnResistance`` forms it (:func:`column_resistance_ohm`),
    ``c_col_f`` the bit line (:func:`column_capacitance_f`), ``rows`` the sub-array's rows. V1.4 sums this
    over every column of the sub-array and multiplies by numAdd = ⌈rows/p⌉ reads (:270, SubArray.cpp:1551);
    the result is nearly independent of p (P_ref rises as T_col falls). Not included: the word-line
    ("array") energy V1.4 books in the same ADC category per sub-array read (SubArray.cpp:1567-1571).
    """
    n = _check_node(node_nm)
    b = _check_bits(bits)
    rc = _check_positive(r_col_ohm, "r_col_ohm")
    ru = _check_positive(r_unit_ohm, "r_unit_ohm")
    p = _check_positive(rows_in_parallel, "rows_in_parallel", 1.0, inclusive=True)
    c = _check_positive(c_col_f, "c_col_f", inclusive=True)
    s = _check_bool(sram, "sram")
    rw = _check_positive(rows, "rows", 1.0, inclusive=True)
    return _over_nodes(
        n, lambda k, b_, rc_, ru_, p_, c_, s_, rw_: _energy_k(k, b_, rc_, ru_, p_, c_, s_, rw_, integer_division_quirk),
        b, rc, ru, p, c, s, rw)


def word_line_energy_j(node_nm: ArrayLike, active_rows: ArrayLike, cols: ArrayLike, cols_muxed: ArrayLike,
                       sram: ArrayLike) -> FloatOut:
    """Word-line energy of one sub-array read of one input bit (J), which V1.4 books in its ADC category:
    C_row·Vdd²·N_active·m, the ``active_rows`` word lines charged once per column-mux step (m = ``cols_muxed``),
    C_row the word line of ``cols`` columns (V1.4's capRow1 for SRAM, capRow2 for 1T1R, at 128 columns, ∝ the
    columns: wire and access gates per cell), Vdd the node's supply (SubArray.cpp:1567-1571 SRAM, :1853-1857
    1T1R; booked at :1593, :1871). Independent of the rows read at once."""
    n = _check_node(node_nm)
    a = _check_positive(active_rows, "active_rows", inclusive=True)
    c = _check_positive(cols, "cols", 1.0, inclusive=True)
    m = _check_positive(cols_muxed, "cols_muxed", 1.0, inclusive=True)
    s = _check_bool(sram, "sram")

    def kernel(k: int, a_: FloatArray, c_: FloatArray, m_: FloatArray, s_: NDArray[np.bool_]) -> FloatArray:
        row_cap = np.where(s_, _ARRAY[k][2], _ROW_CAP_RRAM_FF[k]) * 1e-15 * c_ / _REF_ROWS
        return row_cap * _DEVICE[k][0] ** 2 * a_ * m_

    return _over_nodes(n, kernel, a, c, m, s)


def sensing_cycle_s(node_nm: ArrayLike, bits: ArrayLike, r_unit_ohm: ArrayLike, rows_in_parallel: ArrayLike,
                    c_col_f: ArrayLike, sram: ArrayLike, *, mux_decoder: bool = True) -> FloatOut:
    """V1.4's synchronous clock period set by the sub-array's sensing cycle (s).

    β·[max(t_row, t_mux + t_mux-decoder) + t_precharger (SRAM only) + t_MLSA + t_encoder], β = 1.4
    (SubArray.cpp:998-1012 SRAM, :1292-1301 1T1R; Param.cpp:373; main.cpp:285-302 takes it as the clock
    period). t_MLSA is :func:`mlsa_latency_s`, computed. The other delays are the compiled V1.4's at its
    VGG-8 sub-array (128 × 128, 8:1 column mux, conventional parallel): the row path (SRAM: WL switch matrix;
    1T1R: the new WL switch matrix) and precharger as tabulated; the mux and mux decoder at p = 32 and 64,
    linear in p between and beyond (their transmission gates are sized ∝ p; at p = 16 and 128 within 1.3 % of
    V1.4's mux path, 6 % on a 0.05 ns path for 1T1R at 5 nm, and within 0.35 % of its clock); the encoder at
    each ``bits`` (1..12).
    They do not follow ``r_unit_ohm`` or the sub-array size.

    At 130–32 nm V1.4 leaves the mux-decoder driver at its default size (Param.cpp:136-141, sized per node
    only at ≤ 22 nm), so its clock there is set by the mux decoder (5.2 ns of 13.6 ns at 130 nm, SRAM, 32
    rows), not by sensing; ``mux_decoder=False`` drops that term (a sensing-limited clock). V1.4 caps
    the clock frequency at 1 GHz but counts cycles with this period (main.cpp:299-323); no cap here.
    """
    n = _check_node(node_nm)
    b = _check_bits(bits)
    ru = _check_positive(r_unit_ohm, "r_unit_ohm")
    p = _check_positive(rows_in_parallel, "rows_in_parallel", 1.0, inclusive=True)
    c = _check_positive(c_col_f, "c_col_f", inclusive=True)
    s = _check_bool(sram, "sram")
    return _over_nodes(n, lambda k, b_, ru_, p_, c_, s_: _cycle_k(k, b_, ru_, p_, c_, s_, mux_decoder),
                       b, ru, p, c, s)


def sram_access_resistance_ohm(node_nm: ArrayLike) -> FloatOut:
    """On-resistance of V1.4's SRAM access NMOS, ``resCellAccess`` (Ω): the unit resistance of the SRAM
    reference ladder and of an SRAM column's read path.

    ``CalculateOnResistance`` of a 1 F wide NMOS (2 F at ≤ 14 nm), LSTP, 300 K (SubArray.cpp:215; stored for
    the ADC at :274): 51.2 kΩ at 130 nm, 86.4 kΩ at 22 nm, 30.5 kΩ at 14 nm, 24.0 kΩ at 5 nm, from the compiled
    V1.4. Between and above table nodes as the module says.
    """
    n = _check_node(node_nm)
    return _over_nodes(n, lambda k: _ARRAY[k][0])


def column_capacitance_f(node_nm: ArrayLike, rows: ArrayLike = _REF_ROWS, cell_height_f: ArrayLike | None = None,
                         sram: ArrayLike = True) -> FloatOut:
    """Bit-line capacitance of a column of ``rows`` cells, V1.4's ``capCol`` = ``param->columncap`` (F).

    rows·(h·F·0.2 fF/µm + C_d): the wire over cells ``cell_height_f`` (F, F = node) tall (SubArray.cpp:155,
    175, 199) and the drain capacitance C_d of each cell's access transistor on the line (SRAM :228-230;
    1T1R :364-365). C_d per node is the compiled V1.4's (its 128-row column less its wire). ``cell_height_f``
    None: V1.4's cells, SRAM 10 F above 14 nm (10.6, 12.8, 16, 19.2 F at 14, 10, 7, 5 nm; Param.cpp:278-312),
    1T1R 4 F (:339). At 22 nm, 128 rows: 9.60 fF (SRAM), 5.97 fF (1T1R).
    """
    n = _check_node(node_nm)
    rw = _check_positive(rows, "rows", 1.0, inclusive=True)
    s = _check_bool(sram, "sram")
    h = np.full(np.shape(n), np.nan) if cell_height_f is None else _check_positive(cell_height_f, "cell_height_f")

    def kernel(k: int, rw_: FloatArray, s_: NDArray[np.bool_], h_: FloatArray) -> FloatArray:
        _, cap_sram, _, cap_rram = _ARRAY[k]
        h_v14 = np.where(s_, _SRAM_CELL_H_F[k], _RRAM_CELL_H_F)
        wire_row_v14 = h_v14 * k * 1e-9 * _C_WIRE_F_PER_M
        c_drain = np.where(s_, cap_sram, cap_rram) * 1e-15 / _REF_ROWS - wire_row_v14
        wire_row = np.where(np.isnan(h_), wire_row_v14, h_ * k * 1e-9 * _C_WIRE_F_PER_M)
        return rw_ * (wire_row + c_drain)

    return _over_nodes(n, kernel, rw, s, h)


def column_resistance_ohm(g_path_s: ArrayLike, active_rows: ArrayLike, rows_in_parallel: ArrayLike,
                          sram: ArrayLike, rows: ArrayLike = _REF_ROWS) -> FloatOut:
    """Column resistance the sense amplifier sees, as V1.4's ``GetColumnResistance`` forms it (Ω), for a
    column whose ``active_rows`` active cells have mean path conductance ``g_path_s`` (S).

    ProcessingUnit.cpp:690-750: the conductances of the column's active rows (over all ``rows`` rows of the
    sub-array, whatever p) are summed; 1T1R divides the sum by numAdd = ⌈rows/p⌉ (:736-741), SRAM does not
    (:744). So SRAM: 1/(active_rows·g); 1T1R: ⌈rows/p⌉/(active_rows·g). For SRAM, g = 1/(resCellAccess +
    R_wire) (:723-724; :func:`sram_access_resistance_ohm`, the wire adds ≈ 11 Ω at 22 nm); for a 1T1R RRAM,
    the mean over the active cells of 1/(R_cell + R_wire + R_access), R_access = 0.25·R_on (Param.cpp:367,
    constant.h:155). V1.4 averages the energy over its columns; a mean column is an approximation for RRAM.
    """
    g = _check_positive(g_path_s, "g_path_s")
    a = _check_positive(active_rows, "active_rows")
    p = _check_positive(rows_in_parallel, "rows_in_parallel", 1.0, inclusive=True)
    s = _check_bool(sram, "sram")
    rw = _check_positive(rows, "rows", 1.0, inclusive=True)
    num_add = np.ceil(rw / p)
    return (np.where(s, 1.0, num_add) / (a * g))[()]


def read_voltage_v(node_nm: ArrayLike) -> FloatOut:
    """V1.4's read voltage at ``node_nm`` (V): Param.cpp:351-363 (also MultilevelSenseAmp.cpp:280-304), set
    so that a 5-bit flash ADC senses in ≈ 1 ns at 22 nm: 0.58 V at 130/90 nm, 0.55 V at 22 nm, 0.253 V at
    5 nm. Between and above table nodes as the module says (0.58 V above 130 nm)."""
    n = _check_node(node_nm)
    return _over_nodes(n, lambda k: _V_READ[k])
