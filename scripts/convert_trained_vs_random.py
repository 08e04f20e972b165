"""Why random-initialised EfficientNet/MobileNet miss 0.99 in ``bench_convert.py``: the same model, random
(BatchNorm statistics measured on the calibration images) and briefly trained on Fashion-MNIST, through
the same 8-bit conversion. Prints each model's noise gain (as ``bench_convert.py`` measures it: output
relative error power over input noise power at 40 dB SNR, in dB) and the 8-bit cosine of the logits to
the digital model with the default conversion (zero point), ``input_scaling="dynamic"`` and the
symmetric range (``input_zero_point=False``).

Images: Fashion-MNIST (``/usr/share/datasets/fashion-mnist``) resized to 32×32, normalised, grey copied
to 3 channels; calibration on 4 batches of 16 training images, cosine on 16 other ones. Training:
AdamW (lr 2e-3), batch 64, ``STEPS`` steps, 1 CPU thread; then the BatchNorm statistics are measured
on 20 training batches (a short run's running averages lag the weights).

    python -m uv run python scripts/convert_trained_vs_random.py tf_efficientnet_b0 300
    python -m uv run python scripts/convert_trained_vs_random.py mobilenet_v3_small 300
"""

from __future__ import annotations

import sys
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import bench_convert  # noqa: E402  (same cosine, same gain, same BatchNorm fix-up)

from lightning_imc.data.classification import read_idx  # noqa: E402
from lightning_imc.layers import (  # noqa: E402
    calibrate_input_ranges, conversion_config, convert_to_imc, recalibrate_batchnorm,
)

ROOT = "/usr/share/datasets/fashion-mnist/"


def _prepare(images: torch.Tensor) -> torch.Tensor:
    x = F.interpolate(images[:, None].float() / 255, size=32, mode="bilinear", align_corners=False)
    return ((x - 0.286) / 0.353).expand(-1, 3, -1, -1).contiguous()


def _make(name: str) -> torch.nn.Module:
    if name == "mobilenet_v3_small":
        import torchvision

        return torchvision.models.mobilenet_v3_small(num_classes=10)
    import timm

    return timm.create_model(name, pretrained=False, num_classes=10)


def _report(tag: str, model: torch.nn.Module, calib: list[torch.Tensor], test: torch.Tensor) -> None:
    model.eval()
    out: dict[str, float | None] = {"noise_gain_db": bench_convert._noise_gain_db(model, test)}
    for key, changes in (("default", {}), ("dynamic", {"input_scaling": "dynamic"}),
                         ("symmetric", {"input_zero_point": False})):
        imc = convert_to_imc(model, conversion_config(variation="off", **changes)).eval()
        calibrate_input_ranges(imc, calib)
        out[key] = round(bench_convert._cosine(model, imc, test), 5)
    print(tag, out, flush=True)


def main(name: str, steps: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    warnings.simplefilter("ignore", UserWarning)
    images = torch.from_numpy(read_idx(ROOT + "train-images-idx3-ubyte.gz"))
    labels = torch.from_numpy(read_idx(ROOT + "train-labels-idx1-ubyte.gz")).long()
    calib = [_prepare(images[i * 16:(i + 1) * 16]) for i in range(4)]
    test = _prepare(images[-16:])
    model = _make(name)
    random_model = _make(name)
    bench_convert._make_non_degenerate(random_model, calib)
    _report(f"{name} random (BatchNorm measured):", random_model, calib, test)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    start = time.time()
    for step in range(steps):
        index = torch.randint(64, len(images) - 16, (64,))
        loss = F.cross_entropy(model(_prepare(images[index])), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"  step {step} loss {float(loss):.3f} ({time.time() - start:.0f} s)", flush=True)
    # the running statistics of a short run lag the weights (torchvision's MobileNetV3 uses momentum 0.01):
    # measure them on 20 training batches, as for the random model
    recalibrate_batchnorm(model, [_prepare(images[64 * (i + 1):64 * (i + 2)]) for i in range(20)])
    test_images = _prepare(torch.from_numpy(read_idx(ROOT + "t10k-images-idx3-ubyte.gz"))[:1000])
    test_labels = torch.from_numpy(read_idx(ROOT + "t10k-labels-idx1-ubyte.gz")).long()[:1000]
    with torch.no_grad():
        accuracy = float((model.eval()(test_images).argmax(1) == test_labels).float().mean())
    _report(f"{name} trained {steps} steps (test accuracy {accuracy:.3f} on 1000):", model, calib, test)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tf_efficientnet_b0", int(sys.argv[2]) if len(sys.argv) > 2 else 300)
