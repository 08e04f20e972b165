"""Issue 25: a per-layer sensitivity report finds the layers that make a model collapse at 4 bits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from lightning_imc.layers import SensitivityReport, calibrate_input_ranges, conversion_config, convert_to_imc, layer_sensitivity


def _digits_mlp_with_an_outlier_channel() -> tuple[nn.Module, torch.Tensor]:
    """An MLP trained briefly on scikit-learn's digits, then given one outlier channel as trained networks
    often have: hidden unit 0 of the first layer scaled ×300 and its outgoing weights ÷300 (ReLU is
    positively homogeneous: the function is unchanged). The second layer then sees one input 300× the
    others and holds one weight column 300× smaller than the rest: at 4 bits both round away."""
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(150):
        index = torch.randint(0, 1500, (64,))
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        hidden = model[0](x[:256]).relu()
        unit = int(hidden.mean(0).argmax())  # an active unit: its outlier reaches the next layer
        model[0].weight[unit] *= 300.0
        model[0].bias[unit] *= 300.0
        model[2].weight[:, unit] /= 300.0
    return model.eval(), x[1500:]


def test_the_report_names_the_layer_that_collapses_at_4_bits_and_keeping_it_at_8_bits_recovers():
    model, held_out = _digits_mlp_with_an_outlier_channel()
    batches = [held_out[:64], held_out[64:128]]
    whole = convert_to_imc(model, conversion_config(variation="off", weight_frac_bits=3, input_frac_bits=3)).eval()
    calibrate_input_ranges(whole, batches)
    with torch.no_grad():
        collapsed = float(F.cosine_similarity(whole(held_out), model(held_out)).mean())
    assert collapsed < 0.9  # the model as a whole breaks at 4 bits

    report = layer_sensitivity(model, batches, bits=4, keep=(1, 2))
    assert isinstance(report, SensitivityReport) and report.bits == 4
    assert report.most_sensitive(1) == ["2"]  # the layer reading the outlier channel
    assert report.layers[0].loss > 10 * report.layers[-1].loss
    assert report.all_layers_cosine < 0.9 < report.keep_at_8bit_cosine[1]
    assert "2 (IMCLinear)" in str(report)

    # the overrides do what the report says: the worst layer at 8 bits, the rest at 4
    mixed = convert_to_imc(model, conversion_config(variation="off", weight_frac_bits=3, input_frac_bits=3),
                           overrides=report.overrides(1)).eval()
    assert mixed[2].imc_config.weight_format.total_bits == 8 and mixed[0].imc_config.weight_format.total_bits == 4
    calibrate_input_ranges(mixed, batches)
    with torch.no_grad():
        recovered = float(F.cosine_similarity(mixed(held_out), model(held_out)).mean())
    assert recovered > 0.9 > collapsed


def test_sensitivity_refuses_bad_arguments():
    net = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="bits=1"):
        layer_sensitivity(net, [torch.randn(2, 4)], bits=1)
    with pytest.raises(ValueError, match="no batch"):
        layer_sensitivity(net, [], bits=4)
