"""convert_to_imc on real architectures, state_dict compatibility and per-layer overrides."""

import subprocess
import sys
import warnings

import pytest
import torch
import torchvision
from torch import nn

from lightning_imc.layers import (
    IMCConfig,
    IMCConv2d,
    IMCLayer,
    IMCLinear,
    IMCMultiheadAttention,
    convert_to_digital,
    convert_to_imc,
    imc_layers,
    set_variation,
)


def _resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def test_resnet18_converts_every_conv_and_linear_and_runs():
    model = _resnet18()
    n_conv_linear = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is left digital in a ResNet
        imc = convert_to_imc(model, IMCConfig(seed=0), overrides={"conv1": {"input_signed": True}})
    assert len(imc_layers(imc)) == n_conv_linear == 21
    assert isinstance(imc.conv1, IMCConv2d) and isinstance(imc.fc, IMCLinear)
    assert imc.conv1.imc_config.input_signed and not imc.layer1[0].conv1.imc_config.input_signed
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        noisy = imc(x)
        set_variation(imc, "off")
        clean = imc(x)
        reference = model(x)
    assert noisy.shape == (2, 10)
    assert not torch.allclose(noisy, clean)
    # quantization alone keeps the network close to the float one (8-bit weights, 7-bit inputs)
    assert torch.nn.functional.cosine_similarity(clean.flatten(), reference.flatten(), dim=0) > 0.9
    assert isinstance(model.conv1, nn.Conv2d) and not isinstance(model.conv1, IMCLayer)  # original untouched


def test_state_dict_round_trip():
    model = _resnet18()
    imc = convert_to_imc(model, IMCConfig(variation="fixed", seed=1))
    x = torch.randn(1, 3, 32, 32)
    assert list(imc.state_dict()) == list(model.state_dict())
    # a digital checkpoint loads into the IMC model and back, strictly
    fresh = convert_to_imc(torchvision.models.resnet18(num_classes=10), IMCConfig(variation="off")).eval()
    fresh.load_state_dict(model.state_dict(), strict=True)
    digital = torchvision.models.resnet18(num_classes=10).eval()
    digital.load_state_dict(imc.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(digital(x), model(x))
        assert torch.equal(convert_to_digital(imc).eval()(x), model(x))


def test_parameters_are_shared_not_copied_by_from_digital():
    conv = nn.Conv2d(3, 4, 3)
    layer = IMCConv2d.from_digital(conv, IMCConfig())
    assert layer.weight is conv.weight and layer.bias is conv.bias
    assert layer.to_digital().weight is conv.weight


def test_transformer_encoder_converts_and_uses_imc_path_in_eval():
    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), num_layers=2).eval()
    config = IMCConfig(input_signed=True, input_int_bits=4, quantize_inputs=False, quantize_weights=False,
                       variation="off", variation_model="relative")
    imc = convert_to_imc(encoder, config)
    kinds = sorted(type(m).__name__ for _, m in imc_layers(imc))
    assert kinds == ["IMCLinear"] * 4 + ["IMCMultiheadAttention"] * 2
    x = torch.randn(3, 5, 32)
    with torch.no_grad():
        # with quantization and variation off the IMC model computes exactly the float function
        assert torch.allclose(imc(x), encoder(x), atol=1e-5)
        set_variation(imc, "train")  # relative noise on: now the output must change (IMC path taken)
        assert not torch.allclose(imc(x), encoder(x), atol=1e-3)
    imc.train()
    out = imc(x)
    out.sum().backward()
    assert imc.layers[0].self_attn.in_proj_weight.grad is not None


def test_grouped_and_depthwise_convs_stay_digital_with_one_warning():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        nn.Conv2d(8, 8, 1, groups=2),
        nn.ConvTranspose2d(8, 4, 2, stride=2),
    )
    with pytest.warns(UserWarning, match="left these layers digital") as record:
        imc = convert_to_imc(model, IMCConfig(input_signed=True))
    assert len(record) == 1
    message = str(record[0].message)
    assert "1 (Conv2d, groups=8)" in message and "2 (Conv2d, groups=2)" in message and "3 (ConvTranspose2d)" in message
    assert isinstance(imc[0], IMCConv2d) and type(imc[1]) is nn.Conv2d
    assert imc(torch.rand(1, 3, 4, 4)).shape == (1, 4, 8, 8)


def test_overrides_patterns_order_and_none():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)))
    imc = convert_to_imc(
        model,
        IMCConfig(adc_bits=None),
        overrides={"2.*": {"adc_bits": 4}, "2.1": {"adc_bits": 6, "device": "sram"}, "0": None},
    )
    assert type(imc[0]) is nn.Linear
    assert imc[2][0].imc_config.adc_bits == 4
    assert imc[2][1].imc_config.adc_bits == 6 and imc[2][1].imc_config.device == "sram"
    assert imc[2][0].imc_config.device == "rram_nacim"


def test_overrides_errors_name_the_problem():
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"unknown IMCConfig field\(s\) \['adc_bit'\]"):
        convert_to_imc(model, overrides={"0": {"adc_bit": 4}})
    with pytest.raises(ValueError, match="matches no module"):
        convert_to_imc(model, overrides={"layer9": {"adc_bits": 4}})
    with pytest.raises(ValueError, match=r"IMCConfig.adc_bits=40; must be an integer in \[1, 16\]"):
        convert_to_imc(model, overrides={"0": {"adc_bits": 40}})
    with pytest.raises(ValueError, match="config must be an IMCConfig"):
        convert_to_imc(model, {"seed": 1})


def test_distinct_layers_draw_distinct_noise_with_one_seed():
    model = nn.Sequential(nn.Linear(16, 16, bias=False), nn.Linear(16, 16, bias=False))
    model[1].weight.data.copy_(model[0].weight.data)
    imc = convert_to_imc(model, IMCConfig(seed=0, quantize_inputs=False))
    w0 = imc[0]._effective_weight(0, imc[0].weight)
    w1 = imc[1]._effective_weight(0, imc[1].weight)
    assert not torch.equal(w0, w1)


def test_layers_import_does_not_import_lightning_hydra_or_wandb():
    code = (
        "import sys, lightning_imc.layers\n"
        "bad = [m for m in ('pytorch_lightning', 'lightning', 'hydra', 'omegaconf', 'wandb') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
