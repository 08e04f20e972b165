"""The README quick tour, as it runs: a torchvision resnet18 and a small Hugging Face BERT (random
initialisation: nothing is downloaded) converted with the default 8-bit conversion, calibrated on four
batches, then evaluated on PCM chips at t0 and one day after programming, with and without global drift
compensation. Metric: mean cosine of the logits to the digital model over 5 chips (95% interval).

The random resnet18's BatchNorm statistics are first measured on the random images
(``recalibrate_batchnorm``), as a trained model's would be; without it its activations are degenerate.

    python -m uv run python scripts/tour_convert.py
"""

import torch
import torchvision
from transformers import BertConfig, BertForSequenceClassification

from lightning_imc.hardware import network_from_module
from lightning_imc.layers import (
    calibrate_input_ranges,
    conversion_config,
    convert_to_imc,
    evaluate_on_chips,
    imc_layers,
    model_logits,
    recalibrate_batchnorm,
    set_variation,
)

torch.set_num_threads(1)
torch.manual_seed(0)


def cosine_to(reference, x):
    """A metric for evaluate_on_chips: mean cosine of the logits to ``reference`` (HF outputs via .logits)."""
    @torch.no_grad()
    def metric(model):
        return float(torch.nn.functional.cosine_similarity(model_logits(model(x)), model_logits(reference(x)), dim=1).mean())
    return metric


def on_chips(imc, metric, label):
    """Quantization only (variation off), then 5 PCM chips at t0, one day later with global drift
    compensation, and one day later without."""
    set_variation(imc, "off")
    print(f"{label:8s} 8-bit, variation off: {metric(imc):.4f}")
    for changes in [dict(), dict(drift_time_s=86_400.0), dict(drift_time_s=86_400.0, drift_compensation=False)]:
        for _, layer in imc_layers(imc):
            layer.set_config(layer.imc_config.replace(**{"drift_time_s": None, "drift_compensation": True, **changes}))
        r = evaluate_on_chips(imc, metric, n_chips=5, seed=0)  # each chip: one fixed variation sample
        print(f"{label:8s} PCM chips {changes}: {r.mean:.3f} [{r.ci95_low:.3f}, {r.ci95_high:.3f}]")


# torchvision
resnet = torchvision.models.resnet18(num_classes=10)
images = [torch.randn(16, 3, 32, 32) for _ in range(4)]
recalibrate_batchnorm(resnet, images)  # random init only: measure the BatchNorm statistics
imc, report = convert_to_imc(resnet.eval(), conversion_config(device="pcm"), return_report=True)
print(str(report).splitlines()[0])     # print(report): every layer, on crossbars or digital and why
calibrate_input_ranges(imc, images)    # input range [lo, hi] per layer
on_chips(imc, cosine_to(resnet, torch.randn(64, 3, 32, 32)), "resnet18")

# Hugging Face
bert = BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                                                num_attention_heads=2, intermediate_size=128, num_labels=3))
imc_bert, report = convert_to_imc(bert.eval(), conversion_config(device="pcm"), return_report=True)
print(str(report).splitlines()[0])
calibrate_input_ranges(imc_bert, [torch.randint(0, 1000, (16, 16)) for _ in range(4)])
tokens = torch.randint(0, 1000, (64, 16))
on_chips(imc_bert, cosine_to(bert, tokens), "BERT")
net = network_from_module(imc_bert, tokens[:1])  # token IDs fed as they are; q/k/v/out counted
print(f"BERT chip model: {len(net)} crossbar layers, {net.digital_macs} digital MACs")
