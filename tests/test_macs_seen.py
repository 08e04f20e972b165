"""Issue 25: the chip model counts every multiply-accumulate of a model, on crossbars or digital, and names what
it does not map; the count is checked against torch's own (``FlopCounterMode``, MACs = FLOPs / 2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightning_imc.hardware import network_from_module
from lightning_imc.layers import conversion_config, convert_to_imc


def torch_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """torch's count, with grad enabled (inference fast paths such as MultiheadAttention's fused kernel are not
    visible to ``FlopCounterMode``)."""
    with FlopCounterMode(display=False) as counter, torch.enable_grad():
        model(*inputs)
    return counter.get_total_flops() // 2


def seen(model: nn.Module, *inputs: torch.Tensor) -> tuple[int, object]:
    network = network_from_module(model, inputs[0] if len(inputs) == 1 else inputs)
    return network.macs + network.digital_macs, network


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(8, 24), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(x, self.qkv.weight, self.qkv.bias).chunk(3, dim=-1)
        return F.linear(torch.softmax(q @ k.transpose(-2, -1), -1) @ v, self.proj.weight, self.proj.bias)


@pytest.mark.parametrize("convert", [False, True])
def test_attention_products_and_functional_weight_uses_are_counted(convert):
    torch.manual_seed(0)
    model = nn.Sequential(Functional(), nn.Linear(8, 3)).eval()
    x = torch.randn(1, 6, 8)
    imc = convert_to_imc(model, conversion_config(variation="off")) if convert else model
    total, network = seen(imc, x)
    assert total == torch_macs(model, x) == 6 * 8 * 24 + 2 * 6 * 6 * 8 + 6 * 8 * 8 + 6 * 8 * 3
    assert "0 (activation products, digital)" in network.digital_layers
    if convert:  # routed: qkv and proj are crossbar layers, only the products stay digital
        assert {layer.name for layer in network.layers} == {"0.qkv", "0.proj", "1"}
        assert network.digital_macs == 2 * 6 * 6 * 8
    else:
        assert "0 (linear on 0.qkv.weight, functional, digital)" in network.digital_layers


def test_multihead_attention_scores_and_values_are_counted_whatever_kernel_runs():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(16, 2, batch_first=True).eval()

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = attention

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attention(x, x, x, need_weights=False)[0]

    x = torch.randn(1, 10, 16)
    total, network = seen(Block(), x)  # network_from_module runs without grad: the fused kernel
    assert total == torch_macs(Block(), x) == 4 * 10 * 16 * 16 + 2 * 10 * 10 * 16
    assert network.digital_layers == ("attention (attention scores and values, digital)",)


def test_conv1d_on_crossbars_and_unmapped_convolutions_are_counted():
    model = nn.Sequential(nn.Conv1d(4, 8, 5, stride=2, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 3, groups=8),
                          nn.Unflatten(1, (8, 1)), nn.ConvTranspose2d(8, 2, 3, stride=2)).eval()
    x = torch.randn(1, 4, 40)
    total, network = seen(convert_to_imc(model, conversion_config(variation="off")), x)
    assert total == torch_macs(model, x)
    first = network.layers[0]
    assert (first.kind, first.in_h, first.in_w, first.kernel_w, first.stride, first.padding_w) == ("conv", 1, 40, 5, 2, 2)
    assert first.macs == 20 * 4 * 5 * 8
    assert [d.split(" (")[1] for d in network.digital_layers] == ["Conv1d, groups=8)", "ConvTranspose2d, not mapped)"]


def test_recurrent_layers_are_counted_as_digital_with_their_names():
    model = nn.GRU(16, 32, num_layers=2, bidirectional=True, batch_first=True)

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.out = model, nn.Linear(64, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(x)[0][:, -1])

    x = torch.randn(1, 10, 16)
    total, network = seen(Head(), x)
    gru = 10 * 3 * 32 * (16 + 32) * 2 + 10 * 3 * 32 * (64 + 32) * 2
    assert total == torch_macs(Head(), x) == gru + 64 * 3
    assert network.digital_layers == ("rnn (GRU, recurrent, digital)",) and network.digital_macs == gru
    lstm = nn.Sequential(nn.LSTM(16, 32, batch_first=True))
    with pytest.raises(ValueError, match=r"no conv/linear layer on a crossbar.*LSTM, recurrent"):
        network_from_module(lstm, x)  # nothing to map: an error that names what is digital


def test_a_batch_of_examples_is_counted_per_inference():
    model = nn.Sequential(Functional(), nn.Linear(8, 3)).eval()
    one, _ = seen(model, torch.randn(1, 6, 8))
    four, _ = seen(model, torch.randn(4, 6, 8))
    assert one == four


def test_a_convolution_that_pads_its_own_input_is_counted_at_its_real_output_size():
    """timm's Conv2dSame pads each input at run time (0 in its ``padding``): on an odd-sized input the
    chip model counts the positions it really convolves, as torch does (EfficientNet's stem was 15×15
    instead of 16×16 at 32×32, 0.3% of its MACs)."""
    from timm.layers import Conv2dSame

    model = nn.Sequential(Conv2dSame(3, 8, 3, stride=2), nn.ReLU(), Conv2dSame(8, 4, 5, stride=2)).eval()
    for size in ((32, 32), (31, 30)):
        x = torch.randn(1, 3, *size)
        total, network = seen(convert_to_imc(model, conversion_config(variation="off")), x)
        assert total == torch_macs(model, x)
        assert network.layers[0].macs == 16 * (size[1] // 2) * 3 * 9 * 8
