"""Conversion of the models people use: Hugging Face Conv1D (GPT-2), timm Conv2dSame, the conversion
report, convert_to_digital restoring every module, and the chip model seeing attention, digital work
and token-ID inputs. Small random models only."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from lightning_imc.hardware import network_from_module
from lightning_imc.layers import (
    IMCConfig,
    IMCConv2dSame,
    IMCTransposedLinear,
    calibrate_input_ranges,
    conversion_config,
    convert_to_digital,
    convert_to_imc,
)

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
timm_layers = pytest.importorskip("timm.layers")

QUANT_ONLY = dict(variation="off")


def _gpt2() -> nn.Module:
    config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=1, n_head=2, n_positions=16,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


def test_hf_conv1d_becomes_a_transposed_crossbar_layer_with_the_same_output_when_ideal():
    gpt2 = _gpt2()
    ideal = IMCConfig(quantize_weights=False, quantize_inputs=False, variation="off")
    imc, report = convert_to_imc(gpt2, ideal, return_report=True)
    conv1d_names = [n for n, m in gpt2.named_modules() if type(m).__name__ == "Conv1D"]
    assert len(conv1d_names) == 4  # c_attn, c_proj (attention), c_fc, c_proj (MLP)
    for name in conv1d_names:
        assert isinstance(imc.get_submodule(name), IMCTransposedLinear)
        assert report.converted[name] == "IMCTransposedLinear"
    assert sorted(imc.state_dict()) == sorted(gpt2.state_dict())  # the digital model's keys
    tokens = torch.randint(0, 100, (2, 8))
    with torch.no_grad():
        assert torch.allclose(imc(tokens).logits, gpt2(tokens).logits, atol=1e-5)
    # the embeddings stay digital, with a reason; nothing with a matrix weight is unaccounted for
    assert "transformer.wte" in report.digital and "embedding" in report.digital["transformer.wte"]
    digital = convert_to_digital(imc)
    assert [type(m).__name__ for m in digital.modules()] == [type(m).__name__ for m in gpt2.modules()]


def test_gpt2_at_8_bits_after_calibration_is_close_to_digital():
    gpt2 = _gpt2()
    imc = convert_to_imc(gpt2, conversion_config(**QUANT_ONLY)).eval()
    calibrate_input_ranges(imc, [torch.randint(0, 100, (4, 8)) for _ in range(2)])
    tokens = torch.randint(0, 100, (4, 8))
    with torch.no_grad():
        a, b = gpt2(tokens).logits.flatten(1), imc(tokens).logits.flatten(1)
    assert float(nn.functional.cosine_similarity(a, b, dim=1).min()) > 0.99


def test_conv2d_same_keeps_its_padding_and_comes_back():
    torch.manual_seed(0)
    model = nn.Sequential(timm_layers.Conv2dSame(3, 4, 3, stride=2), nn.ReLU())
    x = torch.randn(1, 3, 32, 32)
    imc = convert_to_imc(model, IMCConfig(quantize_weights=False, quantize_inputs=False, variation="off"))
    assert isinstance(imc[0], IMCConv2dSame)
    with torch.no_grad():
        assert imc(x).shape == model(x).shape == (1, 4, 16, 16)
        assert torch.allclose(imc(x), model(x), atol=1e-6)
        odd = torch.randn(1, 3, 31, 29)
        assert torch.allclose(imc(odd), model(odd), atol=1e-6)
    assert type(convert_to_digital(imc)[0]) is timm_layers.Conv2dSame


def test_subclass_with_its_own_forward_stays_digital_with_a_reason():
    class Doubled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    model = nn.Sequential(nn.Linear(4, 4), Doubled(4, 4), nn.Conv2d(4, 4, 3, groups=4))
    with pytest.warns(UserWarning, match="Doubled"):
        imc, report = convert_to_imc(model, conversion_config(**QUANT_ONLY), return_report=True)
    assert type(imc[1]) is Doubled and "overrides Linear.forward" in report.digital["1"]
    assert "depthwise" in report.digital["2"]
    assert list(report.converted) == ["0"]
    assert report.mapped_weights == 4 * 4 + 4 and report.total_weights == sum(p.numel() for p in model.parameters())


def test_conversion_report_is_printed_when_verbose(capsys):
    convert_to_imc(nn.Sequential(nn.Linear(3, 2)), verbose=True)
    out = capsys.readouterr().out
    assert "1 layers on crossbars" in out and "100.0% of 8 parameters mapped" in out


def test_network_from_module_counts_attention_projections_and_reports_digital_work():
    torch.manual_seed(0)

    class TinyViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, 16, 4, stride=4)
            self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.attention = nn.MultiheadAttention(16, 2, batch_first=True)
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            x = self.depthwise(self.patch(x)).flatten(2).transpose(1, 2)  # (B, 16 tokens, 16)
            x, _ = self.attention(x, x, x, need_weights=False)
            return self.head(x.mean(1))

    model = TinyViT().eval()
    imc = convert_to_imc(model, conversion_config(**QUANT_ONLY), overrides={"head": None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = network_from_module(imc, torch.randn(1, 3, 16, 16))
    names = [layer.name for layer in net]
    assert names == ["patch", "attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.out_proj"]
    for layer in net.layers[1:]:
        assert (layer.in_w, layer.in_c, layer.out_c) == (16, 16, 16)  # 16 tokens × 16 → 16
    # digital: the depthwise conv (16 outputs × 4×4 positions × 9 taps), the head kept digital, and the
    # attention scores and values (16 queries × 16 keys × (16 + 16)), counted since issue 25
    assert net.digital_macs == 16 * 16 * 9 + 16 * 10 + 16 * 16 * (16 + 16)
    assert len(net.digital_layers) == 3 and "attention (attention scores and values, digital)" in net.digital_layers
    # attention weights are a third of the model's crossbar MACs here: none dropped
    assert sum(layer.params for layer in net.layers[1:]) == 4 * 16 * 16


def test_network_from_module_feeds_token_ids_as_they_are():
    gpt2 = _gpt2()
    imc = convert_to_imc(gpt2, conversion_config(**QUANT_ONLY))
    net = network_from_module(imc, torch.randint(0, 100, (1, 8)))
    assert len(net) == 4 + 1  # four Conv1D and the LM head
    assert net.layers[0].in_w == 8 and net.layers[0].in_c == 32 and net.layers[0].out_c == 96
    assert all(layer.weight_bits == 8 and layer.input_bits == 8 for layer in net)
