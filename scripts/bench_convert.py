"""Conversion of the models people use: quant-only fidelity, what stays digital, forward overhead.

Models (no download): torchvision resnet18, mobilenet_v3_small and vit_b_16 (image_size=32); torchvision's
Swin Transformer (patch 2, embed 48, depths [2, 2], heads [3, 6], window 4: its attention reads the ``qkv``/
``proj`` weights with ``F.linear`` instead of calling them); a Hugging Face BERT and GPT-2 from small
configs; a small Hugging Face Whisper audio classifier (its encoder front end: two ``Conv1d``) on synthetic
log-mel frames; Embedding + ``nn.LSTM`` and Embedding + ``nn.GRU`` classifiers (recurrent layers stay
digital, reported); timm's tf_efficientnet_b0 (whose strided convolutions are ``Conv2dSame``). Each is converted with the default conversion config (8-bit weights scaled per output
channel; 8-bit inputs with a zero point on each crossbar read's own range, K×K convolutions on a
calibrated per-layer range), calibrated on 4 batches of 16, and compared with the digital model with
variation off and no ADC: mean per-sample cosine of the logits. ``..._calibrated`` is the same with one
calibrated range per layer (``input_scaling="calibrated"``, no max-finder per read).

Every model is measured twice:

* **trained** (``cosine_8bit``, ``min_cosine_8bit``): what people convert. No pretrained weights can be
  downloaded here, so each model is first trained briefly on real data: the image models on
  Fashion-MNIST (``apt-get install dataset-fashion-mnist``; 32×32, grey copied to 3 channels; AdamW,
  batch 64, ``IMAGE_STEPS``, ViT-B/16 ``VIT_STEPS`` at batch 32), then BatchNorm statistics measured on
  20 training batches (a short run's moving averages lag the weights); BERT on a synthetic 3-class
  token task and GPT-2 on synthetic arithmetic sequences (``TEXT_STEPS``). Calibration on 4 training
  batches of 16, cosine on 64 held-out inputs (Fashion-MNIST test images); ``accuracy`` is the trained
  digital model's on 1,000 held-out inputs (GPT-2: next-token accuracy).
* **random initialisation** (``..._random_init``), the stress case: random images or tokens; BatchNorm
  statistics measured on the calibration batches and a zero-initialised head re-drawn from N(0, 0.02²)
  (torchvision's ViT head is zeros and MobileNetV3's random activations shrink to ~1e-10 otherwise).

``chip_energy_ratio_default_over_calibrated`` is the chip model's energy per inference (RRAM, default
``ChipConfig``) of the default conversion over the calibrated one: what the per-read min/max finders and
the coding and rescaling multiplies cost.

``noise_gain_db`` is how much the digital model itself amplifies a small perturbation: Gaussian noise
at 40 dB SNR added to the input batch (images only), the output's relative error power over the
input's, in dB (2·(1 − cosine) / 1e-4). Every layer's quantization error is amplified alike: random
EfficientNet-B0 (19 dB) needs each layer's 8-bit error ~19 dB below what a 0 dB model needs, which
8-bit codes cannot give; trained, the gain is about 0 dB. ``silently_skipped`` counts modules holding a
matrix weight (a parameter with ``weight`` in its name and 2 or more dimensions: LSTM's ``weight_ih_l0``
too) that are neither converted nor listed, with a reason, in the conversion report, and converted layers
whose weight was used outside the crossbar (``lightning_imc.layers.routing.unrouted_uses``).

``macs_seen`` is the chip model's count of a model's multiply-accumulates (``network_from_module``: crossbar
layers plus the digital MACs it names) over torch's (``torch.utils.flop_counter.FlopCounterMode``, FLOPs / 2,
with grad enabled so that the fused inference kernel of ``nn.MultiheadAttention`` is not taken), on one
test input of the trained model; ``min_macs_seen`` its minimum over the models. torch's counter does not see
CPU's fused LSTM kernel (0 MACs), so the LSTM model's ratio is above 1 (the GRU's is counted by both).

Overhead (resnet18, batch 16, 64×64 input, 1 thread, eval, no grad): time of a forward of the
converted model over the digital one, measured side by side, median of repeats:
``resnet18_noise_overhead`` on a programmed chip (variation ``fixed``, the deployed-inference case,
as in ``evaluate_on_chips``), ``resnet18_train_noise_overhead`` with a new variation draw at every
forward (``train``), ``resnet18_adc_overhead`` on a chip with a 6-bit ADC on 128-row tiles.

    python -m uv run python scripts/bench_convert.py [--models resnet18,bert] [--seed 0]

About 15 minutes on one CPU thread (training two threads). The line before the last, ``details:``, holds
every other figure as JSON; the LAST line is one JSON object with exactly ``min_cosine_8bit``,
``silently_skipped``, ``resnet18_noise_overhead`` and ``min_macs_seen``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lightning_imc.data.classification import FashionMNISTDataModule, read_idx
from lightning_imc.hardware import ChipConfig, evaluate, network_from_module
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
from lightning_imc.layers.routing import unrouted_uses

IMAGE_STEPS, VIT_STEPS, TEXT_STEPS = 300, 120, 200
VOCAB, LENGTH = 1000, 16
MELS, FRAMES = 16, 64  # the small Whisper's log-mel input: 16 bins × 64 frames (2 × max_source_positions)
IMAGE_SIZE = {"resnet18": 64, "mobilenet_v3_small": 64, "vit_b_16": 32, "swin": 32, "timm_tf_efficientnet_b0": 64}
MODELS = ("resnet18", "mobilenet_v3_small", "vit_b_16", "swin", "bert", "gpt2", "whisper", "lstm", "gru",
          "timm_tf_efficientnet_b0")


class RecurrentClassifier(nn.Module):
    """Embedding → ``nn.LSTM``/``nn.GRU`` (64 units) → linear head on the last step (3 classes)."""

    def __init__(self, kind: type[nn.RNNBase]):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.rnn = kind(32, 64, batch_first=True)
        self.head = nn.Linear(64, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(tokens))[0][:, -1])


def _build(name: str) -> nn.Module:
    """A freshly initialised bench model (from the global torch seed)."""
    if name == "swin":  # torchvision's Swin (its attention reads qkv/proj weights with F.linear), sized for 32 px
        from torchvision.models.swin_transformer import SwinTransformer

        return SwinTransformer(patch_size=[2, 2], embed_dim=48, depths=[2, 2], num_heads=[3, 6], window_size=[4, 4],
                               num_classes=10)
    if name in ("resnet18", "mobilenet_v3_small", "vit_b_16"):
        import torchvision

        if name == "vit_b_16":
            return torchvision.models.vit_b_16(image_size=32, num_classes=10)
        return getattr(torchvision.models, name)(num_classes=10)
    if name in ("lstm", "gru"):
        return RecurrentClassifier(nn.LSTM if name == "lstm" else nn.GRU)
    if name == "timm_tf_efficientnet_b0":
        import timm

        return timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=10)
    from transformers import (BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel, WhisperConfig,
                              WhisperForAudioClassification)

    if name == "bert":
        return BertForSequenceClassification(BertConfig(
            vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            max_position_embeddings=64, num_labels=3))
    if name == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=2, n_positions=64))
    if name == "whisper":  # its encoder's front end: two Conv1d over the log-mel frames
        return WhisperForAudioClassification(WhisperConfig(
            num_mel_bins=MELS, d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
            decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128, max_source_positions=FRAMES // 2,
            num_labels=3, classifier_proj_size=32))
    raise ValueError(f"--models: unknown model {name!r}; allowed: {', '.join(MODELS)}")


def _models() -> dict[str, tuple[nn.Module, list, torch.Tensor]]:
    """Every bench model at random initialisation with its random calibration batches and test batch."""
    out = {}
    for name in MODELS:
        model = _build(name)
        if name in IMAGE_SIZE:
            size = IMAGE_SIZE[name]
            calib, test = [torch.randn(16, 3, size, size) for _ in range(4)], torch.randn(16, 3, size, size)
        elif name == "whisper":
            calib, test = [torch.randn(16, MELS, FRAMES) for _ in range(4)], torch.randn(16, MELS, FRAMES)
        else:
            calib, test = [torch.randint(0, VOCAB, (16, LENGTH)) for _ in range(4)], torch.randint(0, VOCAB, (16, LENGTH))
        out[name] = (model, calib, test)
    return out


@torch.no_grad()
def _make_non_degenerate(model: nn.Module, calib: list) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear) and not module.weight.any():
            module.weight.normal_(0.0, 0.02)
    if _has_batchnorm(model):
        recalibrate_batchnorm(model, calib)


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


# -- trained models -----------------------------------------------------------------------------------
class _Fashion:
    """Fashion-MNIST as 3×32×32 normalised images (grey copied to 3 channels)."""

    def __init__(self) -> None:
        found = FashionMNISTDataModule().locate()
        if found is None:
            raise FileNotFoundError("Fashion-MNIST not found; install it with `apt-get install dataset-fashion-mnist` "
                                    "(or put the idx files under data/fashion-mnist)")
        self.train_images = torch.from_numpy(read_idx(found["train_images"]))
        self.train_labels = torch.from_numpy(read_idx(found["train_labels"])).long()
        self.test_images = torch.from_numpy(read_idx(found["test_images"]))
        self.test_labels = torch.from_numpy(read_idx(found["test_labels"])).long()

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images[:, None].float() / 255, size=32, mode="bilinear", align_corners=False)
        return ((x - 0.286) / 0.353).expand(-1, 3, -1, -1).contiguous()

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(64, len(self.train_images), (n,), generator=generator)  # the first 64 calibrate
        return self.prepare(self.train_images[index]), self.train_labels[index]


def _audio_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic log-mel frames for the small Whisper: noise plus, for class c, a tone of one of the mel
    bins of its third of the spectrum, on for a random half of the frames."""
    labels = torch.randint(0, 3, (n,), generator=generator)
    x = torch.randn(n, MELS, FRAMES, generator=generator)
    band = labels * (MELS // 3) + torch.randint(0, MELS // 3, (n,), generator=generator)
    start = torch.randint(0, FRAMES // 2, (n,), generator=generator)
    on = (torch.arange(FRAMES)[None] >= start[:, None]) & (torch.arange(FRAMES)[None] < start[:, None] + FRAMES // 2)
    x[torch.arange(n)[:, None], band[:, None], torch.arange(FRAMES)[None]] += 3.0 * on
    return x, labels


def _token_batch(kind: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic token data: ``bert`` (and the recurrent ``lstm``, ``gru``): class c's tokens come mostly
    from its own third of the vocabulary (60%) and otherwise from anywhere; ``gpt2``: arithmetic sequences
    ``(start + step·t) mod VOCAB`` with a step in 1..3 (labels: the next tokens)."""
    if kind in ("bert", "lstm", "gru"):
        labels = torch.randint(0, 3, (n,), generator=generator)
        own = labels[:, None] * (VOCAB // 3) + torch.randint(0, VOCAB // 3, (n, LENGTH), generator=generator)
        anywhere = torch.randint(0, VOCAB, (n, LENGTH), generator=generator)
        return torch.where(torch.rand(n, LENGTH, generator=generator) < 0.6, own, anywhere), labels
    start = torch.randint(0, VOCAB, (n, 1), generator=generator)
    step = torch.randint(1, 4, (n, 1), generator=generator)
    sequence = (start + step * torch.arange(LENGTH + 1)) % VOCAB
    return sequence[:, :-1], sequence[:, 1:]


def _loss(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model_logits(model(x))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _trained(name: str, fashion: "_Fashion | None", seed: int = 0) -> tuple[nn.Module, list, torch.Tensor, float]:
    """``name`` trained briefly on real (images) or synthetic (tokens) data: model, calibration batches,
    test batch, held-out accuracy of the digital model."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = _build(name)
    image = name in IMAGE_SIZE
    steps = (VIT_STEPS if name in ("vit_b_16", "swin") else IMAGE_STEPS) if image else TEXT_STEPS
    batch_size = 32 if name in ("vit_b_16", "swin") else 64
    lr = 5e-4 if name in ("vit_b_16", "swin") else 2e-3 if image else 1e-3

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if image:
            return fashion.batch(n, generator)  # type: ignore[union-attr]
        return _audio_batch(n, generator) if name == "whisper" else _token_batch(name, n, generator)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    start = time.time()
    for step in range(steps):
        loss = _loss(name, model, *batch(batch_size))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    if _has_batchnorm(model):
        recalibrate_batchnorm(model, [batch(64)[0] for _ in range(20)])
    if image:
        calib = [fashion.prepare(fashion.train_images[16 * i:16 * (i + 1)]) for i in range(4)]  # type: ignore[union-attr]
        test = fashion.prepare(fashion.test_images[-64:])  # type: ignore[union-attr]
        held_out, labels = fashion.prepare(fashion.test_images[:1000]), fashion.test_labels[:1000]  # type: ignore[union-attr]
    else:
        calib = [batch(16)[0] for _ in range(4)]
        test = batch(64)[0]
        held_out, labels = batch(1000)
    with torch.no_grad():
        accuracy = float((model_logits(model(held_out)).argmax(-1) == labels).float().mean())
    print(f"  trained {name}: {steps} steps, final loss {float(loss):.3f}, accuracy {accuracy:.3f} "
          f"({time.time() - start:.0f} s)", flush=True)
    return model, calib, test, accuracy


# -- measurements -------------------------------------------------------------------------------------
def _silently_skipped(model: nn.Module, report) -> list[str]:
    """Modules holding a matrix weight (any parameter with "weight" in its name and 2+ dimensions: LSTM's
    ``weight_ih_l0`` too) that are neither converted nor listed as digital; and converted layers whose
    weight was used outside the crossbar (``unrouted_uses``) during the forwards so far."""
    skipped = []
    for name, module in model.named_modules():
        if not name or name in report.digital:
            continue
        if isinstance(module, IMCLayer):
            if unrouted_uses(module):
                skipped.append(f"{name} (weight used by {list(unrouted_uses(module))})")
            continue
        if any(name.startswith(c + ".") for c in report.converted):
            continue
        if any(p is not None and p.dim() >= 2 for n, p in module._parameters.items() if "weight" in n):
            skipped.append(name)
    return skipped


def torch_macs(model: nn.Module, example: torch.Tensor) -> int:
    """torch's count of a forward's multiply-accumulates (``FlopCounterMode`` FLOPs / 2), with grad enabled
    so that fused inference kernels it cannot see (MultiheadAttention's) are not taken; per example."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.enable_grad():
        model(example)
    return counter.get_total_flops() // 2 // int(example.shape[0])


def macs_seen(imc: nn.Module, digital: nn.Module, example: torch.Tensor) -> tuple[float, int, int]:
    """The chip model's count (crossbar + digital MACs) of the converted model over torch's count of the
    digital one, on one example; and both counts."""
    network = network_from_module(imc, example)
    counted = network.macs + network.digital_macs
    reference = torch_macs(digital, example)
    return round(counted / reference, 4) if reference else float("inf"), counted, reference


@torch.no_grad()
def _cosine(digital: nn.Module, imc: nn.Module, batch: torch.Tensor, imc_batch: torch.Tensor | None = None) -> float:
    a = model_logits(digital(batch)).flatten(1).double()
    b = model_logits(imc(batch if imc_batch is None else imc_batch)).flatten(1).double()
    return float(F.cosine_similarity(a, b, dim=1).mean())


@torch.no_grad()
def _noise_gain_db(model: nn.Module, batch: torch.Tensor, snr_db: float = 40.0) -> float | None:
    if not batch.is_floating_point():
        return None
    power = 10 ** (-snr_db / 10)
    generator = torch.Generator().manual_seed(1)
    noisy = batch + power**0.5 * batch.std() * torch.randn(batch.shape, generator=generator)
    error_power = 2 * (1 - _cosine(model, model, batch, noisy))
    return round(10 * math.log10(max(error_power, 1e-30) / power), 1)


def _fidelity(model: nn.Module, calib: list, test: torch.Tensor) -> dict:
    """Cosines of the default and the calibrated conversion, noise gain, the conversion report, and the
    chip model's energy per inference of the default over the calibrated conversion."""
    model.eval()
    imc, report = convert_to_imc(model, conversion_config(variation="off"), return_report=True)
    calibrate_input_ranges(imc.eval(), calib)
    calibrated = convert_to_imc(model, conversion_config(variation="off", input_scaling="calibrated")).eval()
    calibrate_input_ranges(calibrated, calib)
    energy = [evaluate(network_from_module(m, test[:1]), "rram_nacim", ChipConfig()).energy_j for m in (imc, calibrated)]
    seen, counted, reference = macs_seen(imc, model, test[:1])
    cosine = round(_cosine(model, imc, test), 5)  # after every forward: unrouted weight uses are recorded
    return {"cosine": cosine, "calibrated": round(_cosine(model, calibrated, test), 5),
            "gain": _noise_gain_db(model, test), "report": report, "skipped": _silently_skipped(imc, report),
            "energy_ratio": round(energy[0] / energy[1], 3), "macs_seen": seen, "macs": (counted, reference)}


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


def parse_models(text: str) -> list[str]:
    """The ``--models`` list, or a ``ValueError`` naming what is not a bench model."""
    chosen = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in MODELS]
    if unknown or not chosen:
        raise ValueError(f"--models={text!r}: unknown {unknown}; allowed: {', '.join(MODELS)}")
    return chosen


def main(names: list[str], seed: int = 0) -> None:
    warnings.simplefilter("ignore", UserWarning)
    fashion = _Fashion() if any(n in IMAGE_SIZE for n in names) else None  # fail before any work
    random_init = {}
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    built = _models()
    for name in names:
        model, calib, test = built[name]
        _make_non_degenerate(model, calib)
        random_init[name] = _fidelity(model, calib, test)
    trained, accuracy = {}, {}
    for name in names:
        torch.set_num_threads(2)
        model, calib, test, accuracy[name] = _trained(name, fashion, seed)
        torch.set_num_threads(1)
        trained[name] = _fidelity(model, calib, test)
    for name in names:
        t, r = trained[name], random_init[name]
        reasons = sorted({why.split(":")[0] for why in t["report"].digital.values()})
        print(f"{name:24s} trained: cosine {t['cosine']:.5f} (calibrated {t['calibrated']:.5f}, noise gain {t['gain']} dB); "
              f"random init: {r['cosine']:.5f} (calibrated {r['calibrated']:.5f}, noise gain {r['gain']} dB)  "
              f"chip energy default/calibrated {t['energy_ratio']}  "
              f"imc layers {len(t['report'].converted):3d}  digital {len(t['report'].digital):3d} {reasons}  "
              f"mapped {t['report'].mapped_share:.1%}  MACs seen {t['macs_seen']}  silently skipped {t['skipped']}")
    overheads = _overheads()
    print(f"overheads (resnet18, batch 16, 64x64, 1 thread): {overheads}")

    def column(results: dict, key: str) -> dict:
        return {name: results[name][key] for name in names}

    details = {
        **{k: v for k, v in overheads.items() if k != "resnet18_noise_overhead"},
        "min_cosine_8bit_calibrated": min(column(trained, "calibrated").values()),
        "min_cosine_8bit_random_init": min(column(random_init, "cosine").values()),
        "cosine_8bit": column(trained, "cosine"),
        "cosine_8bit_calibrated": column(trained, "calibrated"),
        "cosine_8bit_random_init": column(random_init, "cosine"),
        "cosine_8bit_random_init_calibrated": column(random_init, "calibrated"),
        "noise_gain_db": column(trained, "gain"),
        "noise_gain_db_random_init": column(random_init, "gain"),
        "accuracy": {name: round(accuracy[name], 4) for name in names},
        "chip_energy_ratio_default_over_calibrated": column(trained, "energy_ratio"),
        "digital_layers": {name: len(trained[name]["report"].digital) for name in names},
        "mapped_share": {name: round(trained[name]["report"].mapped_share, 4) for name in names},
        "weight_reads_routed": {name: len(trained[name]["report"].weight_reads) for name in names},
        "macs_seen": column(trained, "macs_seen"),
        "macs_chip_model_and_torch": column(trained, "macs"),
        "max_macs_seen": max(column(trained, "macs_seen").values()),
    }
    print("details:", json.dumps(details))
    print(json.dumps({  # the keys, exactly
        "min_cosine_8bit": min(column(trained, "cosine").values()),
        "silently_skipped": sum(len(trained[n]["skipped"]) + len(random_init[n]["skipped"]) for n in names),
        "resnet18_noise_overhead": overheads["resnet18_noise_overhead"],
        "min_macs_seen": min(column(trained, "macs_seen").values()),
    }))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models' initialisation, data and training")
    args = parser.parse_args()
    try:
        chosen = parse_models(args.models)
    except ValueError as err:
        parser.error(str(err))
    main(chosen, args.seed)
