"""The README quick tour, as it runs: a torchvision resnet18 and a small Hugging Face BERT, each trained
briefly (nothing is downloaded: scikit-learn's bundled 8×8 digits, upsampled to 32×32 RGB, and a toy
3-class token task), converted with the default 8-bit conversion, calibrated on four batches, then
evaluated on PCM chips at t0 and one day after programming, with and without global drift
compensation; resnet18 also with its BatchNorm statistics re-measured on each chip (4 unlabelled
batches) and after 60 noise-aware fine-tuning steps. Metric: test accuracy, mean over 5 programmed chips
(95% interval).

    python -m uv run python scripts/tour_convert.py
"""

import torch
import torch.nn.functional as F
import torchvision
from transformers import BertConfig, BertForSequenceClassification

from lightning_imc.demo import load_digits_tensors
from lightning_imc.hardware import network_from_module
from lightning_imc.layers import (
    calibrate_input_ranges,
    classification_accuracy,
    conversion_config,
    convert_to_imc,
    evaluate_on_chips,
    imc_layers,
    model_logits,
    set_variation,
)

torch.set_num_threads(1)
torch.manual_seed(0)


def fit(model, x, y, steps):
    """A short training run: Adam (lr 1e-3), batches of 64."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        i = torch.randint(0, len(x), (64,))
        loss = F.cross_entropy(model_logits(model(x[i])), y[i])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def on_chips(imc, x, y, label, bn_batches=None):
    """Quantization only (variation off), then 5 PCM chips at t0, one day later with global drift
    compensation, and one day later without; ``bn_batches``: BatchNorm re-measured on each chip."""
    def accuracy(model):
        return classification_accuracy(model, x, y)  # outputs with .logits (Hugging Face) work too

    set_variation(imc, "off")
    print(f"{label:32s} 8-bit, variation off: {accuracy(imc):.4f}")
    for changes in [dict(), dict(drift_time_s=86_400.0), dict(drift_time_s=86_400.0, drift_compensation=False)]:
        for _, layer in imc_layers(imc):
            layer.set_config(layer.imc_config.replace(**{"drift_time_s": None, "drift_compensation": True, **changes}))
        r = evaluate_on_chips(imc, accuracy, n_chips=5, seed=0, bn_batches=bn_batches)  # 5 programmed chips
        print(f"{label:32s} PCM chips {changes}: {r.mean:.3f} [{r.ci95_low:.3f}, {r.ci95_high:.3f}]")


def rgb32(images):
    return F.interpolate(images, size=32, mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)


def toy_tokens(n):
    """A toy 3-class task: class c's tokens come mostly (60%) from its own third of a 1000-token vocabulary."""
    y = torch.randint(0, 3, (n,))
    own = y[:, None] * 333 + torch.randint(0, 333, (n, 16))
    return torch.where(torch.rand(n, 16) < 0.6, own, torch.randint(0, 1000, (n, 16))), y


# torchvision
x_train, y_train, x_test, y_test = load_digits_tensors()
x_train, x_test = rgb32(x_train), rgb32(x_test)
resnet = fit(torchvision.models.resnet18(num_classes=10), x_train, y_train, steps=150)
print(f"{'resnet18':32s} digital: {classification_accuracy(resnet, x_test, y_test):.4f}")
imc, report = convert_to_imc(resnet, conversion_config(device="pcm"), return_report=True)
print(str(report).splitlines()[0])     # print(report): every layer, on crossbars or digital and why
batches = [x_train[64 * i:64 * (i + 1)] for i in range(4)]
calibrate_input_ranges(imc, batches)
on_chips(imc, x_test, y_test, "resnet18")
on_chips(imc, x_test, y_test, "resnet18, BatchNorm per chip", bn_batches=batches)
set_variation(imc, "train")            # noise-aware fine-tuning: a new PCM chip at every forward
fit(imc.train(), x_train, y_train, steps=60)
on_chips(imc, x_test, y_test, "resnet18, 60 noise-aware steps", bn_batches=batches)

# Hugging Face
bert = BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                                                num_attention_heads=2, intermediate_size=128, num_labels=3))
tokens, labels = toy_tokens(4096)
bert = fit(bert, tokens, labels, steps=100)
test_tokens, test_labels = toy_tokens(1000)
print(f"{'BERT':32s} digital: {classification_accuracy(bert, test_tokens, test_labels):.4f}")
imc_bert, report = convert_to_imc(bert, conversion_config(device="pcm"), return_report=True)
print(str(report).splitlines()[0])
calibrate_input_ranges(imc_bert, [tokens[64 * i:64 * (i + 1)] for i in range(4)])
on_chips(imc_bert, test_tokens, test_labels, "BERT")
net = network_from_module(imc_bert, test_tokens[:1])  # token IDs fed as they are; q/k/v/out counted
print(f"BERT chip model: {len(net)} crossbar layers, {net.digital_macs} digital MACs")
