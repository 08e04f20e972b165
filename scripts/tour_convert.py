"""The README quick tour's conversion figures: resnet18 and a small BERT (random initialisation) on PCM
chips at t0 and one day after programming, with and without global drift compensation.

The random resnet18's BatchNorm statistics are first measured on the random images (recalibrate_batchnorm)
so that its activations are not degenerate. Metric: mean cosine of the logits to the digital model.

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
)

torch.set_num_threads(1)
torch.manual_seed(0)


@torch.no_grad()
def cosine(m, ref, x):
    return float(torch.nn.functional.cosine_similarity(model_logits(m(x)), model_logits(ref(x)), dim=1).mean())


# torchvision
resnet = torchvision.models.resnet18(num_classes=10)
images = [torch.randn(16, 3, 32, 32) for _ in range(4)]
recalibrate_batchnorm(resnet, images)
resnet.eval()
imc, report = convert_to_imc(resnet, conversion_config(device="pcm", variation="fixed"), return_report=True)
print(report.__str__().splitlines()[0])
calibrate_input_ranges(imc, images)
x = torch.randn(64, 3, 32, 32)
for changes in [dict(), dict(drift_time_s=86_400.0), dict(drift_time_s=86_400.0, drift_compensation=False)]:
    for _, layer in imc_layers(imc):
        layer.set_config(layer.imc_config.replace(**changes))
    r = evaluate_on_chips(imc, lambda m: cosine(m, resnet, x), n_chips=5, seed=0)
    print("resnet18", changes, round(r.mean, 3), round(r.ci95_low, 3), round(r.ci95_high, 3))

# Hugging Face
bert = BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=128, num_labels=3)).eval()
imc_bert, rep = convert_to_imc(bert, conversion_config(device="pcm", variation="fixed", drift_time_s=86_400.0), return_report=True)
print(rep.__str__().splitlines()[0])
tokens = [torch.randint(0, 1000, (16, 16)) for _ in range(4)]
calibrate_input_ranges(imc_bert, tokens)
t = torch.randint(0, 1000, (64, 16))
r = evaluate_on_chips(imc_bert, lambda m: cosine(m, bert, t), n_chips=5, seed=0)
print("bert 1 day", round(r.mean, 3), round(r.ci95_low, 3), round(r.ci95_high, 3))
net = network_from_module(imc_bert, t[:1])
print("bert network", len(net), "crossbar layers,", net.digital_macs, "digital MACs", net.layers[0].name)
