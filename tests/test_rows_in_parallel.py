"""Partial-parallel reads in the layers: each ADC conversion sees ``min(array_rows, rows_in_parallel)`` rows."""

import pytest
import torch

from lightning_imc.layers import IMCConfig, IMCConv2d, IMCLinear


def _cfg(**kw) -> IMCConfig:
    return IMCConfig(variation="off", adc_bits=4, adc_range="dynamic", **kw)


@pytest.mark.parametrize("make", [lambda c: IMCLinear(100, 7, imc_config=c),
                                  lambda c: IMCConv2d(6, 5, 3, padding=1, imc_config=c)])
def test_rows_in_parallel_partial_sums_equal_smaller_tiles(make):
    torch.manual_seed(0)
    partial = make(_cfg(array_rows=128, rows_in_parallel=16))
    small = make(_cfg(array_rows=16))
    full = make(_cfg(array_rows=128))
    small.load_state_dict(partial.state_dict())
    full.load_state_dict(partial.state_dict())
    x = torch.rand(4, 100) if isinstance(partial, IMCLinear) else torch.rand(2, 6, 8, 8)
    assert torch.equal(partial(x), small(x))          # the ADC sees 16-row partial sums
    assert not torch.equal(partial(x), full(x))       # ... not the 128-row ones
    assert _cfg(array_rows=64, rows_in_parallel=32).adc_rows == 32 and _cfg(array_rows=64).adc_rows == 64


@pytest.mark.parametrize("value", [0, 129, 8.0, True])
def test_rows_in_parallel_validated(value):
    with pytest.raises(ValueError, match="rows_in_parallel"):
        IMCConfig(array_rows=128, rows_in_parallel=value)


def test_candidate_circuit_sets_rows_in_parallel_in_layers_and_chip():
    from types import SimpleNamespace

    from lightning_imc.callbacks import chip_for_candidate
    from lightning_imc.hardware import ChipConfig
    from lightning_imc.models.networks import layer_config

    layer = SimpleNamespace(weight_int_bits=1, weight_frac_bits=5, input_int_bits=2, input_frac_bits=4, input_signed=False)
    circuit = {"array_size": 64, "rows_in_parallel": 16}
    cfg = layer_config(IMCConfig(variation="off"), layer, None, circuit)
    chip = chip_for_candidate(ChipConfig.nacim(), circuit)
    assert (cfg.array_rows, cfg.rows_in_parallel, cfg.adc_rows) == (64, 16, 16)
    assert (chip.subarray_rows, chip.rows_in_parallel) == (64, 16)
