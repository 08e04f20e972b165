"""A negative result kept reproducible: per-input-channel scales migrated into the weights before conversion.

SmoothQuant's migration (Xiao et al., ICML 2023): each crossbar layer's input channel ``c`` is divided by
``s_c = max|x_c|^strength / max|W_c|^(1 - strength)`` (digital, foldable into the layer before) and its
weight row multiplied by ``s_c``, so the input ranges of the channels come closer before the 8-bit input
and weight quantization. Measured on the random tf_efficientnet_b0 of ``bench_convert.py`` with one
calibrated input range per layer (``input_scaling="calibrated"``; cosine of the logits to the digital
model, variation off): 0.943 without, 0.957 / 0.950 / 0.948 at strength 0.3 / 0.5 / 0.7 — the channels'
ranges are not what limits it, so the conversion does not do this.

    python -m uv run python scripts/convert_channel_migration.py timm_tf_efficientnet_b0 0 0.3 0.5 0.7
"""

from __future__ import annotations

import sys
import warnings

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import bench_convert  # noqa: E402

from lightning_imc.layers import calibrate_input_ranges, conversion_config, convert_to_imc, imc_layers  # noqa: E402

MIGRATED = ("IMCConv2d", "IMCConv2dSame", "IMCLinear")  # layers whose weight's dim 1 is the input channel


def _channel_max(x: torch.Tensor) -> torch.Tensor:
    """max|x| per input channel: dim 1 of an image batch, the last dim of a feature batch."""
    per_channel = x.transpose(0, 1).reshape(x.shape[1], -1) if x.dim() == 4 else x.reshape(-1, x.shape[-1]).T
    return per_channel.abs().amax(1)


@torch.no_grad()
def cosine_after_migration(name: str, strength: float) -> float:
    torch.manual_seed(0)
    model, calib, test = bench_convert._models()[name]
    bench_convert._make_non_degenerate(model, calib)
    model.eval()
    imc = convert_to_imc(model, conversion_config(variation="off", input_scaling="calibrated")).eval()
    layers = [(n, layer) for n, layer in imc_layers(imc)
              if type(layer).__name__ in MIGRATED and getattr(layer, "groups", 1) == 1]
    amax: dict[str, torch.Tensor] = {}

    def observe(n: str):
        def hook(layer, args):
            if args[0].is_floating_point():
                m = _channel_max(args[0])
                amax[n] = torch.maximum(amax[n], m) if n in amax else m
        return hook

    handles = [layer.register_forward_pre_hook(observe(n)) for n, layer in layers]
    for batch in calib:
        imc(batch)
    for handle in handles:
        handle.remove()
    if strength > 0:
        for n, layer in layers:
            if n not in amax:
                continue
            w = layer.weight.data
            w_max = w.abs().transpose(0, 1).reshape(w.shape[1], -1).amax(1)
            s = (amax[n].clamp_min(1e-8) ** strength / w_max.clamp_min(1e-8) ** (1 - strength)).clamp_min(1e-5)
            layer.weight.data = w * s.view((1, -1, 1, 1) if w.dim() == 4 else (1, -1))
            layer.register_forward_pre_hook(
                lambda _, args, s=s: (args[0] / (s.view(1, -1, 1, 1) if args[0].dim() == 4 else s), *args[1:]))
    calibrate_input_ranges(imc, calib)
    return bench_convert._cosine(model, imc, test)


if __name__ == "__main__":
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    for value in sys.argv[2:] or ["0", "0.5"]:
        print(f"{sys.argv[1]} strength {value}: cosine {cosine_after_migration(sys.argv[1], float(value)):.4f}", flush=True)
