"""Where a converted model's 8-bit error comes from, layer by layer (a ``bench_convert.py`` model).

For each crossbar layer: the SQNR of its quantized input on the test batch (dB), and the loss of
cosine (1 − cosine of the logits to the digital model) when only that layer's input, or only its
weights, are quantized and every other layer is exact. Then the whole model: all quantized, weights
only, inputs only. Changes to the conversion config are given as ``field=value`` (JSON values).

    python -m uv run python scripts/convert_error_by_layer.py timm_tf_efficientnet_b0
    python -m uv run python scripts/convert_error_by_layer.py mobilenet_v3_small input_zero_point=false
"""

from __future__ import annotations

import json
import math
import sys
import warnings

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import bench_convert  # noqa: E402

from lightning_imc.layers import calibrate_input_ranges, conversion_config, convert_to_imc, imc_layers  # noqa: E402


@torch.no_grad()
def main(name: str, changes: dict) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    warnings.simplefilter("ignore", UserWarning)
    model, calib, test = bench_convert._models()[name]
    bench_convert._make_non_degenerate(model, calib)
    model.eval()
    imc = convert_to_imc(model, conversion_config(variation="off", **changes)).eval()
    calibrate_input_ranges(imc, calib)
    layers = imc_layers(imc)
    base = {n: layer.imc_config for n, layer in layers}

    def quantize(inputs: dict[str, bool], weights: dict[str, bool]) -> float:
        for n, layer in layers:
            layer.set_config(base[n].replace(quantize_inputs=inputs.get(n, False), quantize_weights=weights.get(n, False)))
        return 1 - bench_convert._cosine(model, imc, test)

    sqnr: dict[str, float] = {}

    def record(n: str):
        def hook(layer, args):
            x = args[0]
            if x.is_floating_point():
                error = (layer._quantize_input(x) - x).pow(2).mean() / x.pow(2).mean().clamp_min(1e-30)
                sqnr[n] = 10 * math.log10(1 / max(float(error), 1e-30))
        return hook

    handles = [layer.register_forward_pre_hook(record(n)) for n, layer in layers]
    imc(test)
    for handle in handles:
        handle.remove()
    print(f"{'layer':40s} {'kind':18s} {'in SQNR':>8s} {'1-cos in':>9s} {'1-cos w':>9s}")
    for n, layer in layers:
        loss_in = quantize({n: True}, {})
        loss_w = quantize({}, {n: True})
        print(f"{n:40s} {type(layer).__name__:18s} {sqnr.get(n, float('nan')):8.1f} {loss_in:9.2e} {loss_w:9.2e}")
    everything = {n: True for n in base}
    print(f"all quantized: 1-cos {quantize(everything, everything):.2e}; weights only {quantize({}, everything):.2e}; "
          f"inputs only {quantize(everything, {}):.2e}")


if __name__ == "__main__":
    main(sys.argv[1], {k: json.loads(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
