"""Issue 25: models that read a layer's weight directly, 1-D convolutions, recurrent layers, calibration errors."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_imc.layers import (
    IMCConfig,
    IMCConv1d,
    IMCConv2d,
    calibrate_input_ranges,
    conversion_config,
    convert_to_digital,
    convert_to_imc,
)
from lightning_imc.layers.routing import unrouted_uses


class FunctionalAttention(nn.Module):
    """Reads its projections' weights as torchvision's Swin does: ``F.linear(x, self.qkv.weight, bias)``,
    with a caller-made bias (the key third zeroed, as Swin V2)."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.qkv.bias.clone()
        bias[bias.numel() // 3: 2 * bias.numel() // 3] = 0
        q, k, v = F.linear(x, self.qkv.weight, bias).chunk(3, dim=-1)
        attention = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
        return F.linear(attention @ v, self.proj.weight, self.proj.bias)


def _count_calls(module: nn.Module) -> list[int]:
    calls: list[int] = []
    module.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_functional_weight_reads_run_through_the_crossbar_and_are_reported():
    torch.manual_seed(0)
    model = nn.Sequential(FunctionalAttention(), nn.GELU(), nn.Linear(8, 4)).eval()
    x = torch.randn(3, 5, 8)
    imc, report = convert_to_imc(model, conversion_config(variation="off"), return_report=True)
    assert set(report.weight_reads) == {"0.qkv", "0.proj"} and "routed" in report.weight_reads["0.qkv"]
    assert "0.qkv" in str(report)
    calls = _count_calls(imc[0].qkv)
    calibrate_input_ranges(imc, [x])  # every layer runs: no missing range
    with torch.no_grad():
        quantized = imc(x)
        digital = model(x)
    assert calls and F.cosine_similarity(quantized.flatten(1), digital.flatten(1)).min() > 0.999
    assert not torch.equal(quantized, digital)  # the routed products are quantized ...
    exact = convert_to_imc(model, IMCConfig(quantize_weights=False, quantize_inputs=False, variation="off"))
    with torch.no_grad():
        assert torch.allclose(exact(x), digital, atol=1e-6)  # ... with the caller's bias (key third zeroed)
    noisy = convert_to_imc(model, conversion_config(variation="train", sigma_levels=2.0), overrides={"2": None})
    calibrate_input_ranges(noisy, [x])
    noisy.train()
    out = noisy(x)
    out.sum().backward()
    assert noisy[0].qkv.weight.grad is not None and noisy[0].qkv.weight.grad.abs().sum() > 0
    assert F.cosine_similarity(out.detach().flatten(1), digital.flatten(1)).min() < 0.999  # variation reached them
    assert isinstance(convert_to_digital(imc)[0].qkv, nn.Linear)


def test_a_deep_copy_routes_to_its_own_layers():
    import copy

    torch.manual_seed(0)
    imc = convert_to_imc(nn.Sequential(FunctionalAttention()), conversion_config(variation="off"))
    twin = copy.deepcopy(imc)
    calls_twin, calls_original = _count_calls(twin[0].qkv), _count_calls(imc[0].qkv)
    twin(torch.randn(2, 3, 8))
    assert calls_twin and not calls_original


def test_swin_transformer_converts_every_attention_projection():
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    swin = SwinTransformer([4, 4], 16, [1, 1], [1, 2], [4, 4], num_classes=5).eval()
    imc, report = convert_to_imc(swin, conversion_config(variation="off"), return_report=True)
    reads = {name for name in report.weight_reads}
    assert reads == {"features.1.0.attn.qkv", "features.1.0.attn.proj", "features.3.0.attn.qkv", "features.3.0.attn.proj"}
    x = torch.randn(2, 3, 32, 32)
    calibrate_input_ranges(imc, [x])  # was a bare KeyError on features.1.0.attn.qkv
    with torch.no_grad():
        assert F.cosine_similarity(imc(x), swin(x)).min() > 0.99


def test_an_unrouted_use_warns_by_name_and_calibration_names_the_layer_and_the_cause():
    class Transposed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(x @ self.a.weight.t())

    imc = convert_to_imc(Transposed(), conversion_config(variation="off"))
    with pytest.warns(UserWarning, match=r"^a: its weight is used directly .* which does not run through the crossbar"):
        imc(torch.randn(3, 4))
    assert unrouted_uses(imc.a) == ("TensorBase.t",)
    with pytest.raises(ValueError, match=r"never ran on the calibration batches.*\['a'\].*TensorBase.t"):
        calibrate_input_ranges(imc, [torch.randn(3, 4)])


def test_calibration_refuses_a_batch_with_nan_and_names_the_layer():
    net = convert_to_imc(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), conversion_config(variation="off"))
    bad = torch.tensor([[float("nan"), 1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"layer '0' got NaN inputs on calibration batch 1"):
        calibrate_input_ranges(net, [torch.randn(3, 4), bad])
    assert float(net[0].input_range) == 0.0 or torch.isfinite(net[0].input_range)  # nothing NaN stored


def test_conv1d_on_crossbars_matches_the_digital_layer_and_its_2d_twin():
    torch.manual_seed(0)
    conv = nn.Conv1d(4, 6, 5, stride=2, padding=2, dilation=1)
    x = torch.randn(2, 4, 33)
    exact = IMCConv1d.from_digital(conv, IMCConfig(quantize_weights=False, quantize_inputs=False, variation="off"))
    assert torch.allclose(exact(x), conv(x), atol=1e-6)
    back = exact.to_digital()
    assert type(back) is nn.Conv1d and back.weight is conv.weight and back.stride == (2,) and back.padding == (2,)
    config = IMCConfig(weight_scaling="channel", input_scaling="calibrated", input_signed=True, variation="off",
                       adc_bits=5, array_rows=8)
    one = IMCConv1d.from_digital(conv, config)
    conv2d = nn.Conv2d(4, 6, (1, 5), stride=(1, 2), padding=(0, 2))
    conv2d.weight.data.copy_(conv.weight.data.unsqueeze(2))
    conv2d.bias.data.copy_(conv.bias.data)
    two = IMCConv2d.from_digital(conv2d, config)
    for layer in (one, two):
        layer.input_range.fill_(float(x.abs().max()))
    assert torch.allclose(one(x), two(x.unsqueeze(2)).squeeze(2), atol=1e-5)  # the same tiles and ADC
    assert set(one.state_dict()) == {"weight", "bias", "input_range"}


def test_conv1d_converts_and_a_grouped_one_stays_digital_with_its_reason():
    model = nn.Sequential(nn.Conv1d(4, 8, 3), nn.ReLU(), nn.Conv1d(8, 8, 3, groups=8))
    with pytest.warns(UserWarning, match=r"left these layers digital.*'2 \(Conv1d, groups=8\)'"):
        imc, report = convert_to_imc(model, return_report=True)
    assert report.converted == {"0": "IMCConv1d"} and "depthwise" in report.digital["2"]


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU, nn.RNN])
def test_recurrent_layers_are_reported_and_warned_by_name(kind):
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.rnn = kind(8, 16, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.rnn(self.embed(tokens))[0]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, report = convert_to_imc(Tagger(), return_report=True)
    assert report.converted == {}
    assert set(report.digital) == {"embed", "rnn"} and report.digital["rnn"].startswith(f"{kind.__name__}: recurrent")
    assert any("rnn (" + kind.__name__ in str(w.message) for w in caught)
