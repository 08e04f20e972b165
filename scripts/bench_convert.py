"""Conversion of the models people use: quant-only fidelity, what stays digital, forward overhead.

Models (random initialisation, no download): torchvision resnet18, mobilenet_v3_small and vit_b_16
(image_size=32), a Hugging Face BERT and GPT-2 from small configs, timm's tf_efficientnet_b0 (whose
strided convolutions are ``Conv2dSame``). Each is converted with the default conversion config
(8-bit weights scaled per output channel, 8-bit inputs on a calibrated range with a zero point),
calibrated on 4 batches of 16, and compared with the digital model on a fifth batch with variation off
and no ADC: mean per-sample cosine of the logits (``cosine_8bit``, ``min_cosine_8bit``). The same with
``input_scaling="dynamic"`` (a digital scale per crossbar read; K×K convolutions keep the calibrated
range) is ``cosine_8bit_dynamic``, and with the previous default (a symmetric range whose sign comes
from the data, no zero point) ``cosine_8bit_symmetric``.

``noise_gain_db`` is how much the digital model itself amplifies a small perturbation: Gaussian noise
at 40 dB SNR added to the input batch (images only), the output's relative error power over the
input's, in dB (2·(1 − cosine) / 1e-4). Every layer's quantization error is amplified alike, so a model
with a gain of 19 dB needs each layer's 8-bit error ~19 dB below what one with 0 dB needs. ``silently_skipped`` counts modules holding a matrix weight
(a parameter named ``*weight`` with 2 or more dimensions) that are neither converted nor listed, with
a reason, in the conversion report.

Random initialisation leaves two models degenerate, which would make a cosine meaningless: torchvision
initialises ViT's head to zeros (all logits 0), and MobileNetV3's activations shrink to ~1e-10 through
its random layers with the default BatchNorm statistics. So, before converting, every model's
BatchNorm statistics are measured on the calibration batches (``recalibrate_batchnorm`` on the
digital model) and a zero-initialised head is re-drawn from N(0, 0.02²), as timm initialises heads.

Overhead (resnet18, batch 16, 64×64 input, 1 thread, eval, no grad): time of a forward of the
converted model over the digital one, measured side by side, median of repeats:
``resnet18_noise_overhead`` on a programmed chip (variation ``fixed``, the deployed-inference case,
as in ``evaluate_on_chips``), ``resnet18_train_noise_overhead`` with a new variation draw at every
forward (``train``), ``resnet18_adc_overhead`` on a chip with a 6-bit ADC on 128-row tiles.

    python -m uv run python scripts/bench_convert.py

The LAST line is one JSON object.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from lightning_imc.layers import (
    IMCLayer,
    calibrate_input_ranges,
    recalibrate_batchnorm,
    conversion_config,
    convert_to_imc,
    model_logits,
    resample_chip,
    set_variation,
)


def _models() -> dict[str, tuple[nn.Module, list, torch.Tensor]]:
    import timm
    import torchvision
    from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel

    def images(size: int, n: int = 16) -> torch.Tensor:
        return torch.randn(n, 3, size, size)

    def tokens(n: int = 16, length: int = 16, vocab: int = 1000) -> torch.Tensor:
        return torch.randint(0, vocab, (n, length))

    bert = BertForSequenceClassification(BertConfig(
        vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        max_position_embeddings=64, num_labels=3))
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=2, n_positions=64))
    return {
        "resnet18": (torchvision.models.resnet18(num_classes=10), [images(64) for _ in range(4)], images(64)),
        "mobilenet_v3_small": (torchvision.models.mobilenet_v3_small(num_classes=10),
                               [images(64) for _ in range(4)], images(64)),
        "vit_b_16": (torchvision.models.vit_b_16(image_size=32, num_classes=10), [images(32) for _ in range(4)], images(32)),
        "bert": (bert, [tokens() for _ in range(4)], tokens()),
        "gpt2": (gpt2, [tokens() for _ in range(4)], tokens()),
        "timm_tf_efficientnet_b0": (timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=10),
                                    [images(64) for _ in range(4)], images(64)),
    }


@torch.no_grad()
def _make_non_degenerate(model: nn.Module, calib: list) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear) and not module.weight.any():
            module.weight.normal_(0.0, 0.02)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        recalibrate_batchnorm(model, calib)


def _silently_skipped(model: nn.Module, report) -> list[str]:
    skipped = []
    for name, module in model.named_modules():
        if not name or isinstance(module, IMCLayer) or name in report.digital:
            continue
        if any(name.startswith(c + ".") for c in report.converted):
            continue
        if any(p is not None and p.dim() >= 2 for n, p in module._parameters.items() if n.endswith("weight")):
            skipped.append(name)
    return skipped


@torch.no_grad()
def _cosine(digital: nn.Module, imc: nn.Module, batch: torch.Tensor, imc_batch: torch.Tensor | None = None) -> float:
    a = model_logits(digital(batch)).flatten(1).double()
    b = model_logits(imc(batch if imc_batch is None else imc_batch)).flatten(1).double()
    return float(F.cosine_similarity(a, b, dim=1).mean())


@torch.no_grad()
def _median_time(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _overheads(repeats: int = 7) -> dict[str, float]:
    import torchvision

    torch.manual_seed(0)
    digital = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(16, 3, 64, 64)
    calib = [torch.randn(16, 3, 64, 64)]
    out: dict[str, float] = {}
    for key, changes, mode in (
        ("resnet18_noise_overhead", {}, "fixed"),
        ("resnet18_train_noise_overhead", {}, "train"),
        ("resnet18_adc_overhead", {"adc_bits": 6}, "fixed"),
    ):
        imc = convert_to_imc(digital, conversion_config(**changes)).eval()
        calibrate_input_ranges(imc, calib)
        set_variation(imc, mode)
        resample_chip(imc, 0)
        # side by side, interleaved: digital, converted, digital, converted, ...
        t_digital, t_imc = [], []
        for _ in range(repeats):
            t_digital.append(_median_time(digital, x, 1))
            t_imc.append(_median_time(imc, x, 1))
        out[key] = round(statistics.median(t_imc) / statistics.median(t_digital), 3)
    return out


@torch.no_grad()
def _noise_gain_db(model: nn.Module, batch: torch.Tensor, snr_db: float = 40.0) -> float | None:
    if not batch.is_floating_point():
        return None
    power = 10 ** (-snr_db / 10)
    generator = torch.Generator().manual_seed(1)
    noisy = batch + power**0.5 * batch.std() * torch.randn(batch.shape, generator=generator)
    error_power = 2 * (1 - _cosine(model, model, batch, noisy))
    return round(10 * math.log10(max(error_power, 1e-30) / power), 1)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    warnings.simplefilter("ignore", UserWarning)
    cosines: dict[str, float] = {}
    dynamic: dict[str, float] = {}
    symmetric: dict[str, float] = {}
    gains: dict[str, float | None] = {}
    digital_layers: dict[str, int] = {}
    mapped: dict[str, float] = {}
    skipped_total = 0
    for name, (model, calib, test) in _models().items():
        _make_non_degenerate(model, calib)
        model.eval()
        imc, report = convert_to_imc(model, conversion_config(variation="off"), return_report=True)
        imc.eval()
        calibrate_input_ranges(imc, calib)
        cosines[name] = round(_cosine(model, imc, test), 5)
        for key, changes in ((dynamic, {"input_scaling": "dynamic"}), (symmetric, {"input_zero_point": False})):
            other = convert_to_imc(model, conversion_config(variation="off", **changes)).eval()
            calibrate_input_ranges(other, calib)
            key[name] = round(_cosine(model, other, test), 5)
        gains[name] = _noise_gain_db(model, test)
        skipped = _silently_skipped(imc, report)
        skipped_total += len(skipped)
        digital_layers[name] = len(report.digital)
        mapped[name] = round(report.mapped_share, 4)
        reasons = sorted({why.split(":")[0] for why in report.digital.values()})
        print(f"{name:24s} cosine {cosines[name]:.5f} (dynamic {dynamic[name]:.5f}, symmetric {symmetric[name]:.5f}, "
              f"noise gain {gains[name]} dB)  imc layers {len(report.converted):3d}  "
              f"digital {len(report.digital):3d} {reasons}  mapped {report.mapped_share:.1%}  silently skipped {skipped}")
    overheads = _overheads()
    print(f"overheads (resnet18, batch 16, 64x64, 1 thread): {overheads}")
    result = {
        "min_cosine_8bit": min(cosines.values()),
        "silently_skipped": skipped_total,
        **overheads,
        "min_cosine_8bit_dynamic": min(dynamic.values()),
        "cosine_8bit": cosines,
        "cosine_8bit_dynamic": dynamic,
        "cosine_8bit_symmetric": symmetric,
        "noise_gain_db": gains,
        "digital_layers": digital_layers,
        "mapped_share": mapped,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
