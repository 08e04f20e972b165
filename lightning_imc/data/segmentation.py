"""Binary segmentation data modules: nuclei images on disk, and generated toy blobs.

Targets are int64 masks ``(N, H, W)`` with 0 = background and 1 = foreground, and
``num_classes == 2``: a model outputs 2 logits per pixel and is trained with cross-entropy.
A model with a single logit and a sigmoid can use ``(y == 1).float()`` as its target.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .base import TensorDataModule, check_choice, check_fraction, check_int, check_resident_size
from .classification import REPO_DATA_DIR

_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)


def find_nuclei_samples(root: str | os.PathLike) -> list[tuple[Path, list[Path]]]:
    """Samples of a nuclei dataset in the 2018 Data Science Bowl layout, sorted by image id.

    Layout: ``<root>/<id>/images/<id>.png`` and ``<root>/<id>/masks/*.png`` (one binary mask per
    nucleus). ``root`` may also be the parent of ``stage1_train/``. Returns
    ``[(image_path, [mask_paths...]), ...]``; folders without an image or without masks are skipped.
    """
    root = Path(root)
    if (root / "stage1_train").is_dir():
        root = root / "stage1_train"
    samples = []
    if not root.is_dir():
        return samples
    for sample_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        images_dir, masks_dir = sample_dir / "images", sample_dir / "masks"
        if not images_dir.is_dir() or not masks_dir.is_dir():
            continue
        images = _image_files(images_dir)
        masks = _image_files(masks_dir)
        if not images or not masks:
            continue
        preferred = [p for p in images if p.stem == sample_dir.name]
        samples.append(((preferred or images)[0], masks))
    return samples


class _BinarySegmentationDataModule(TensorDataModule):
    """Square images with foreground/background masks: ``num_classes = 2`` (cross-entropy targets in
    {0, 1}); subclasses set ``channels`` and ``image_size`` (pixels)."""

    task = "segmentation"
    channels: int
    image_size: int

    @property
    def num_classes(self) -> int:
        return 2

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


class NucleiDataModule(_BinarySegmentationDataModule):
    """Nuclei segmentation on disk, in the 2018 Data Science Bowl (``stage1_train``) layout.

    Every sample folder ``<root>/<id>/`` holds ``images/<id>.png`` (RGB or RGBA) and
    ``masks/*.png`` (one binary mask per nucleus). The masks of an image are combined into one
    foreground mask (pixel > 0 in any of them); the image is resized bilinearly and the mask with
    nearest-neighbour to ``image_size × image_size``. Needs Pillow (a torchvision dependency).
    There is no official labelled test split: ``test_fraction`` of the samples form it.

    Note: NACIM's reference [46] is Kumar et al. 2017 (IEEE TMI), whose release stores ``.tif``
    tiles with XML polygon annotations; that layout is not read here. Converted to the folder
    layout above (one PNG mask per nucleus, or a single PNG with all of them), it loads as is.

    Args:
        root: the folder of sample folders (or the parent of ``stage1_train/``); ``None`` =
            ``<repo>/data/nuclei``.
        image_size: side of the served images and masks in pixels (e.g. 64 or 128).
        channels: 3 (RGB) or 1 (grey).
        **kwargs: see :class:`~lightning_imc.data.base.TensorDataModule`.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 16,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root = Path(root).expanduser() if root is not None else REPO_DATA_DIR / "nuclei"
        self.image_size = check_int("image_size", image_size, 4)
        self.channels = check_choice("channels", channels, (1, 3))

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        from PIL import Image

        samples = find_nuclei_samples(self.root)
        if not samples:
            raise FileNotFoundError(
                f"No nuclei samples found under {self.root}: expected folders <id>/images/<id>.png and "
                "<id>/masks/*.png (the 2018 Data Science Bowl 'stage1_train' layout; unzip "
                f"stage1_train.zip into {self.root} or pass root=<folder>)."
            )
        size = (self.image_size, self.image_size)
        mode = "RGB" if self.channels == 3 else "L"
        xs, ys = [], []
        for image_path, mask_paths in samples:
            with Image.open(image_path) as im:
                im = im.convert(mode)
                full_size = im.size
                xs.append(np.asarray(im.resize(size, Image.BILINEAR), dtype=np.uint8))
            union = np.zeros((full_size[1], full_size[0]), dtype=bool)
            for mask_path in mask_paths:
                with Image.open(mask_path) as m:
                    arr = np.asarray(m.convert("L"))
                if arr.shape != union.shape:
                    raise ValueError(f"mask {mask_path} has shape {arr.shape}, its image {image_path} {union.shape}")
                union |= arr > 0
            mask = Image.fromarray(union.astype(np.uint8) * 255).resize(size, Image.NEAREST)
            ys.append(np.asarray(mask) > 127)
        x = torch.from_numpy(np.stack(xs))
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        y = torch.from_numpy(np.stack(ys)).long()
        self.sample_ids = [p.parent.parent.name for p, _ in samples]
        return {"train": (x.contiguous(), y)}


def make_toy_segmentation(
    n_samples: int,
    image_size: int = 32,
    channels: int = 1,
    max_blobs: int = 4,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random discs on a noisy background, with their exact masks.

    Each image holds 1..``max_blobs`` discs (radius 2..size/5 pixels) of brightness 0.5..1 on a
    background of brightness 0..0.3, plus Gaussian noise of std ``noise``. The mask is 1 where the
    pixel centre lies inside any disc, so it is exact (the noise does not change it).

    Returns:
        ``x`` float32 ``(n_samples, channels, image_size, image_size)`` in [0, 1] and ``y`` int64
        ``(n_samples, image_size, image_size)`` in {0, 1}; the same for the same arguments.
    """
    gen = torch.Generator().manual_seed(seed)
    s = image_size
    yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
    counts = torch.randint(1, max_blobs + 1, (n_samples,), generator=gen)
    cy = torch.rand((n_samples, max_blobs), generator=gen) * s
    cx = torch.rand((n_samples, max_blobs), generator=gen) * s
    r_max = max(3.0, s / 5)
    radius = 2.0 + torch.rand((n_samples, max_blobs), generator=gen) * (r_max - 2.0)
    active = torch.arange(max_blobs)[None, :] < counts[:, None]  # (N, K)
    dist2 = (yy[None, None] - cy[..., None, None]) ** 2 + (xx[None, None] - cx[..., None, None]) ** 2  # (N, K, S, S)
    inside = (dist2 <= radius[..., None, None] ** 2) & active[..., None, None]
    mask = inside.any(dim=1)  # (N, S, S)
    brightness = 0.5 + 0.5 * torch.rand((n_samples, channels, 1, 1), generator=gen)
    background = 0.3 * torch.rand((n_samples, channels, 1, 1), generator=gen)
    x = torch.where(mask[:, None], brightness, background)
    x = (x + noise * torch.randn((n_samples, channels, s, s), generator=gen)).clamp_(0.0, 1.0)
    return x, mask.long()


class ToySegmentationDataModule(_BinarySegmentationDataModule):
    """Generated binary segmentation (discs on noise, exact masks) for tests and quick starts.

    Args:
        n_samples: number of generated images (split into train/val/test by the fractions).
        image_size: side in pixels (>= 8).
        channels: image channels (>= 1).
        max_blobs: at most this many discs per image (>= 1).
        noise: std of the additive Gaussian pixel noise, in [0, 1].
        **kwargs: see :class:`~lightning_imc.data.base.TensorDataModule` (``seed`` also seeds the generation).
    """

    def __init__(
        self,
        n_samples: int = 512,
        image_size: int = 32,
        channels: int = 1,
        max_blobs: int = 4,
        noise: float = 0.1,
        batch_size: int = 32,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.n_samples = check_int("n_samples", n_samples, 3)
        self.image_size = check_int("image_size", image_size, 8)
        self.channels = check_int("channels", channels, 1)
        self.max_blobs = check_int("max_blobs", max_blobs, 1)
        self.noise = check_fraction("noise", noise, allow_zero=True)
        check_resident_size("image_size", self.image_size,
                            2 * self.n_samples * (self.channels * 4 + 8) * self.image_size ** 2,
                            f"{self.n_samples} images of {self.channels} channel(s) at {self.image_size}×{self.image_size}")

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        x, y = make_toy_segmentation(
            self.n_samples, self.image_size, self.channels, self.max_blobs, self.noise, seed=self.seed
        )
        return {"train": (x, y)}
