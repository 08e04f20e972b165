"""Noise-aware compute-in-memory crossbar layers, in plain PyTorch.

Importing this package imports torch only (no Lightning, Hydra or wandb), so the layers can be used
in any model::

    from lightning_imc.layers import IMCConfig, convert_to_imc, evaluate_on_chips
    imc_model = convert_to_imc(model, IMCConfig(device="rram_nacim", variation="train"),
                               overrides={"conv1": {"input_signed": True}})
"""

from ..devices import DEVICE_LIBRARY, Device, get_device, register_device
from .adc import adc_quantize, conv_tile_plan, tiled_conv2d, tiled_linear
from .calibration import calibrate_input_ranges, recalibrate_batchnorm, reestimate_batchnorm_under_variation
from .config import IMCConfig, conversion_config
from .convert import ConversionReport, convert_to_digital, convert_to_imc, imc_layers
from .modules import IMCConv1d, IMCConv2d, IMCConv2dSame, IMCLayer, IMCLinear, IMCMultiheadAttention, IMCTransposedLinear
from .montecarlo import (
    MonteCarloResult,
    classification_accuracy,
    evaluate_on_chips,
    model_logits,
    resample_chip,
    set_variation,
    student_t_quantile,
    variation_mode,
)
from .sensitivity import LayerSensitivity, SensitivityReport, layer_sensitivity
from .quantization import FixedPoint, fixed_point_quantize, mse_clip_range, quantize_to_codes
from .variation import (
    bit_sliced_noise_std,
    cells_per_weight,
    recombine_slices,
    sample_bit_sliced_read,
    slice_codes,
    stuck_at_codes,
    weight_noise_std_levels,
)

__all__ = [
    "DEVICE_LIBRARY", "Device", "get_device", "register_device",
    "IMCConfig", "conversion_config", "ConversionReport", "IMCConv2dSame", "IMCTransposedLinear",
    "stuck_at_codes", "weight_noise_std_levels", "FixedPoint", "fixed_point_quantize", "quantize_to_codes", "mse_clip_range",
    "IMCLayer", "IMCConv1d", "IMCConv2d", "IMCLinear", "IMCMultiheadAttention",
    "convert_to_imc", "convert_to_digital", "imc_layers",
    "adc_quantize", "tiled_linear", "tiled_conv2d", "conv_tile_plan",
    "bit_sliced_noise_std", "cells_per_weight", "slice_codes", "recombine_slices", "sample_bit_sliced_read",
    "MonteCarloResult", "model_logits", "evaluate_on_chips", "classification_accuracy", "set_variation", "variation_mode",
    "resample_chip", "student_t_quantile", "calibrate_input_ranges", "recalibrate_batchnorm",
    "reestimate_batchnorm_under_variation", "layer_sensitivity", "SensitivityReport", "LayerSensitivity",
]
