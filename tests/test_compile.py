"""torch.compile captures the IMC layers in one graph in every mode (fullgraph, eager backend: cheap)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_imc.layers import (
    calibrate_input_ranges,
    conversion_config,
    convert_to_imc,
    evaluate_on_chips,
    resample_chip,
)

torch.set_num_threads(1)


def _model(**changes) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    model = convert_to_imc(net, conversion_config(**changes)).eval()
    calibrate_input_ranges(model, [torch.randn(2, 3, 8, 8)])
    return model


ALL_EFFECTS = dict(read_noise_levels=0.3, drift_time_s=86_400.0, stuck_off_prob=0.01, output_noise=0.01)


@pytest.mark.parametrize("changes, chip", [
    (dict(variation="train"), None),
    (dict(variation="train", seed=1), None),
    (dict(variation="fixed"), 3),
    (dict(variation="fixed", **ALL_EFFECTS), 3),
    (dict(variation="train", adc_bits=6, seed=2), None),
    (dict(variation="fixed", input_scaling="dynamic"), 3),
    (dict(variation="train", input_zero_point=False), None),
])
def test_no_graph_break(changes, chip):
    model = _model(**changes)
    if chip is not None:
        resample_chip(model, chip)
    torch._dynamo.reset()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons


def test_evaluate_on_chips_with_a_compiled_model_matches_eager_without_recompiling_per_chip():
    from torch._dynamo.utils import counters

    model = _model(variation="fixed")
    x = torch.randn(2, 3, 8, 8)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        on_compiled = evaluate_on_chips(model, lambda _: float(compiled(x).sum()), n_chips=4, seed=0)
        on_eager = evaluate_on_chips(model, lambda m: float(m(x).sum()), n_chips=4, seed=0)
    assert on_compiled.values == pytest.approx(on_eager.values, rel=1e-5, abs=1e-6)
    assert len(set(on_eager.values)) == 4  # four different chips
    assert counters["stats"]["unique_graphs"] <= 2  # the first chip compiles; later chips reuse the graph
