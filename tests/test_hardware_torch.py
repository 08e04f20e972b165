"""network_from_module: deriving a network description from torch models (duck-typed IMC bits)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lightning_imc.hardware import ChipConfig, Network, evaluate, network_from_module  # noqa: E402


class QConv(nn.Conv2d):
    """Stand-in for an IMC layer: carries weight_bits / input_bits like lightning_imc.layers does."""

    def __init__(self, *a, weight_bits=None, input_bits=None, **k):
        super().__init__(*a, **k)
        self.weight_bits, self.input_bits = weight_bits, input_bits


class QLinear(nn.Linear):
    def __init__(self, *a, weight_bits=None, input_bits=None, **k):
        super().__init__(*a, **k)
        self.weight_bits, self.input_bits = weight_bits, input_bits


def test_chain_model_with_bits_and_pooling():
    model = nn.Sequential(
        QConv(3, 16, 3, padding=1, weight_bits=4, input_bits=6), nn.ReLU(), nn.MaxPool2d(2),
        QConv(16, 32, (3, 5), padding=(1, 2), weight_bits=None, input_bits=3), nn.ReLU(),
        nn.Flatten(), QLinear(32 * 16 * 16, 10, weight_bits=5, input_bits=5),
    )
    net = network_from_module(model, (3, 32, 32), default_bits=8)
    assert len(net) == 3
    c1, c2, fc = net.layers
    assert (c1.in_h, c1.in_c, c1.out_c, c1.kernel_h, c1.pool, c1.weight_bits, c1.input_bits) == (32, 3, 16, 3, 2, 4, 6)
    assert (c2.in_h, c2.kernel_w, c2.padding, c2.out_h, c2.out_w, c2.weight_bits, c2.input_bits) == (16, 5, 1, 16, 16, 8, 3)
    assert fc.kind == "linear" and fc.in_c == 32 * 16 * 16 and fc.out_c == 10 and fc.weight_bits == 5
    r = evaluate(net, "rram_nacim", ChipConfig.nacim())
    assert r.area_mm2 > 0 and r.latency_s > 0


def test_residual_model():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(8, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 3, padding=1)
            self.skip = nn.Conv2d(8, 8, 1, stride=1)

        def forward(self, x):
            return torch.relu(self.b(torch.relu(self.a(x))) + self.skip(x))

    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 10))
    net = network_from_module(model, (3, 32, 32))
    assert [l.kind for l in net] == ["conv"] * 4 + ["linear"]
    assert net.layers[0].out_h == 16 and net.layers[1].in_h == 16
    assert net.layers[3].kernel_h == 1  # the skip convolution is mapped too
    assert all(l.weight_bits == 8 for l in net)
    assert evaluate(net, "rram_vgg8", ChipConfig.nacim()).tiles >= 5


def test_vgg8_from_module_matches_description():
    cfg = [(3, 128), (128, 128, "M"), (128, 256), (256, 256, "M"), (256, 512), (512, 512, "M")]
    mods: list[nn.Module] = []
    for c in cfg:
        mods += [nn.Conv2d(c[0], c[1], 3, padding=0), nn.ReLU()]
        if len(c) == 3:
            mods.append(nn.MaxPool2d(2))
    model = nn.Sequential(*mods)
    net = network_from_module(model, (3, 40, 40))
    assert [l.out_c for l in net] == [128, 128, 256, 256, 512, 512]
    assert [l.pool for l in net] == [1, 2, 1, 2, 1, 2]
    assert isinstance(net, Network)


def test_device_from_module_duck_typed():
    from types import SimpleNamespace

    from lightning_imc.devices import get_device
    from lightning_imc.hardware import device_from_module

    model = nn.Sequential(QConv(3, 4, 3), nn.ReLU(), nn.Flatten(), QLinear(4 * 30 * 30, 10))
    assert device_from_module(model) is None
    assert device_from_module(model, default="rram_nacim") == "rram_nacim"
    model[0].imc_config = SimpleNamespace(device=get_device("rram_nacim"))
    model[3].imc_config = SimpleNamespace(device=get_device("rram_nacim"))
    assert device_from_module(model).name == "rram_nacim"
    model[3].imc_config = SimpleNamespace(device=get_device("sram"))
    with pytest.raises(ValueError, match="different devices"):
        device_from_module(model)


def test_a_read_coded_on_its_own_range_costs_its_finder_and_multiplies():
    """No free lunch for the conversion default: ``input_scaling="dynamic"`` layers (1×1 and linear) are
    charged ``V·[2(in_c − 1)·w + (in_c + 2·out_c)·w²]`` adder-bit energies (a min/max finder and the coding
    and rescaling multiplies, w = the accumulator width), K×K convolutions (one calibrated range) nothing."""
    from lightning_imc.hardware import components as comp
    from lightning_imc.layers import conversion_config, convert_to_imc

    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 24, 1), nn.Flatten(),
                          nn.Linear(24 * 8 * 8, 10))
    imc = convert_to_imc(model, conversion_config(variation="off"))
    net = network_from_module(imc, (3, 8, 8))
    assert [layer.input_range_per_read for layer in net] == [False, True, True]
    static = network_from_module(convert_to_imc(model, conversion_config(variation="off", input_scaling="calibrated")),
                                 (3, 8, 8))
    assert not any(layer.input_range_per_read for layer in static)
    chip = ChipConfig(adc_bits=5, pes_per_tile=4, subarrays_per_pe=1)  # a PE of one sub-array: w = b_adc + b_in + 1
    dynamic_report, static_report = evaluate(net, "rram_nacim", chip), evaluate(static, "rram_nacim", chip)
    assert dynamic_report.latency_s == static_report.latency_s and dynamic_report.area_mm2 == static_report.area_mm2
    scale = comp.CAL["accum_e_bit_j"] * float(comp.energy_scale(chip.node_nm, chip.v_chip or comp.node_vdd_v(chip.node_nm)))
    for layer, dyn, sta in zip(net, dynamic_report.layers, static_report.layers):
        w = chip.adc_bits + layer.input_bits + 1
        reads = layer.out_h * layer.out_w
        expected = reads * (2 * (layer.in_c - 1) * w + (layer.in_c + 2 * layer.out_c) * w**2) * scale
        extra = dyn.energy_breakdown_j["accumulation"] - sta.energy_breakdown_j["accumulation"]
        assert extra == pytest.approx(expected if layer.input_range_per_read else 0.0, rel=1e-9, abs=1e-30)
