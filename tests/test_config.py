"""Every bad IMCConfig / Device value raises a ValueError naming the field and what is allowed."""

import pytest

from lightning_imc.devices import Device, get_device, register_device
from lightning_imc.layers import IMCConfig


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"weight_int_bits": -1}, r"IMCConfig.weight_int_bits=-1; must be an integer in \[0, 16\]"),
        ({"weight_frac_bits": 17}, r"IMCConfig.weight_frac_bits=17; must be an integer in \[0, 16\]"),
        ({"weight_int_bits": 0, "weight_frac_bits": 0}, r"IMCConfig.weight_int_bits \+ IMCConfig.weight_frac_bits = 0"),
        ({"input_int_bits": 2.5}, r"IMCConfig.input_int_bits=2.5; must be an integer"),
        ({"input_int_bits": 10, "input_frac_bits": 10}, r"total width must be in \[1, 16\]"),
        ({"input_signed": "yes"}, r"IMCConfig.input_signed='yes'; must be true, false or 'auto'"),
        ({"device": "rram9"}, r"IMCConfig.device='rram9' is unknown; allowed: \['fefet', 'pcm', 'rram_nacim'"),
        ({"variation": "always"}, r"IMCConfig.variation='always'; allowed: \['off', 'train', 'fixed'\]"),
        ({"variation_model": "lognormal"}, r"IMCConfig.variation_model='lognormal'; allowed: \['bit_sliced', 'relative'\]"),
        ({"sigma_levels": -0.1}, r"IMCConfig.sigma_levels=-0.1; must be a finite number >= 0"),
        ({"relative_sigma": float("nan")}, r"IMCConfig.relative_sigma=nan"),
        ({"array_rows": 0}, r"IMCConfig.array_rows=0; must be an integer in \[8, 2048\]"),
        ({"array_cols": 5000}, r"IMCConfig.array_cols=5000; must be an integer in \[8, 2048\]"),
        ({"adc_bits": 0}, r"IMCConfig.adc_bits=0; must be an integer in \[1, 16\] or None"),
        ({"adc_range": "max"}, r"IMCConfig.adc_range='max'; allowed: \['dynamic', 'worst_case'"),
        ({"adc_range": -2.0}, r"IMCConfig.adc_range=-2.0; allowed: 'dynamic', 'worst_case' or a number > 0"),
        ({"seed": -3}, r"IMCConfig.seed=-3; must be an integer in \[0, "),
        ({"quantize_weights": False}, r"IMCConfig.quantize_weights=False with variation_model='bit_sliced'"),
    ],
)
def test_bad_config_values_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        IMCConfig(**changes)


def test_replace_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown IMCConfig field\(s\) \['sigma'\]; allowed: \["):
        IMCConfig().replace(sigma=0.1)


def test_valid_edge_configs():
    IMCConfig(weight_int_bits=0, weight_frac_bits=2, input_int_bits=1, input_frac_bits=0)  # unsigned 1-bit input
    IMCConfig(weight_int_bits=1, weight_frac_bits=1, input_int_bits=0, input_frac_bits=2, input_signed=True)
    IMCConfig(quantize_weights=False, variation_model="relative")
    IMCConfig(quantize_weights=False, variation="off")
    assert IMCConfig(device="SRAM").device_spec.name == "sram"
    assert IMCConfig(sigma_levels=0.2).effective_sigma_levels == 0.2
    assert IMCConfig().effective_sigma_levels == 0.8


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"bits_per_cell": 0}, r"Device.bits_per_cell=0 for 'x'; must be an integer in \[1, 8\]"),
        ({"technology": "DRAM"}, r"Device.technology='DRAM' for 'x'; allowed: \['FeFET', 'PCM', 'ReRAM', 'SRAM', 'STT-MRAM'\]"),
        ({"on_off_ratio": 1.0}, r"Device.on_off_ratio=1.0 for 'x'; must be > 1"),
        ({"sigma_levels": -1}, r"Device.sigma_levels=-1 for 'x'; must be >= 0"),
        ({"r_on_ohm": 0}, r"Device.r_on_ohm=0 for 'x'; must be a finite number > 0"),
    ],
)
def test_bad_device_values_are_named(changes, message):
    fields = dict(name="x", technology="ReRAM", bits_per_cell=2, sigma_levels=0.1, r_on_ohm=1e4, on_off_ratio=10.0,
                  cell_area_f2=48.0)
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        Device(**fields)


def test_device_library_figures():
    nacim = get_device("rram_nacim")
    assert (nacim.levels, nacim.sigma_levels) == (16, 0.8)
    assert nacim.max_read_current_a == pytest.approx(16e-6)  # NACIM: current range [0, 16] µA at 0.5 V
    assert get_device("stt_mram").bits_per_cell == 1 and get_device("sram").sigma_levels == 0.0
    assert get_device("rram_neurosim").r_off_ohm == pytest.approx(900e3)
    assert {get_device(n).technology for n in ("rram_nacim", "fefet", "stt_mram", "sram", "pcm")} == {
        "ReRAM", "FeFET", "STT-MRAM", "SRAM", "PCM"}
    with pytest.raises(ValueError, match="already registered"):
        register_device(nacim)


@pytest.mark.parametrize("int_bits,frac_bits", [(0, 1), (1, 0)])
def test_degenerate_signed_formats_are_rejected(int_bits, frac_bits):
    """Signed Q0.1 is {-0.5, 0} and Q1.0 is {-1, 0}: no positive level, so no weight format."""
    with pytest.raises(ValueError, match=r"IMCConfig.weight_int_bits \+ weight_frac_bits = 1 bit; a signed weight "
                                         r"format needs at least 2 bits"):
        IMCConfig(weight_int_bits=int_bits, weight_frac_bits=frac_bits)
    with pytest.raises(ValueError, match=r"input_signed=True; a signed input format needs at least 2 bits"):
        IMCConfig(input_int_bits=int_bits, input_frac_bits=frac_bits, input_signed=True)


@pytest.mark.parametrize("field,value,message", [
    ("weight_scaling", "tensor", r"IMCConfig.weight_scaling='tensor'; allowed: \['absolute', 'layer', 'channel'\]"),
    ("input_scaling", "learned", r"IMCConfig.input_scaling='learned'; allowed: \['absolute', 'calibrated', 'dynamic'\]"),
    ("input_range_momentum", 0.0, r"IMCConfig.input_range_momentum=0.0; must be a number in \(0, 1\]"),
])
def test_scaling_fields_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        IMCConfig(**{field: value})
