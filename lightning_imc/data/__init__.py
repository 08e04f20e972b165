"""LightningDataModules that keep small datasets as tensors on the training device.

Available through :func:`get_datamodule`: ``"digits"`` (scikit-learn, embedded, the default),
``"fashion_mnist"``, ``"cifar10"``, ``"nuclei"`` and ``"toy_segmentation"``. Every module exposes
``num_classes``, ``input_shape`` (C, H, W) and ``task`` (``"classification"`` / ``"segmentation"``)
before ``setup()``, so models can be built from them. See :mod:`lightning_imc.data.base` for the
batching design (no per-sample DataLoader).
"""

from __future__ import annotations

from .base import TensorBatchLoader, TensorDataModule, random_crop_flip
from .classification import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    default_data_dir,
    read_idx,
)
from .segmentation import NucleiDataModule, ToySegmentationDataModule, find_nuclei_samples, make_toy_segmentation

#: name -> class, as accepted by :func:`get_datamodule`.
DATAMODULES: dict[str, type[TensorDataModule]] = {
    "digits": DigitsDataModule,
    "fashion_mnist": FashionMNISTDataModule,
    "cifar10": CIFAR10DataModule,
    "nuclei": NucleiDataModule,
    "toy_segmentation": ToySegmentationDataModule,
}


def get_datamodule(name: str, **kwargs) -> TensorDataModule:
    """Build a data module by name (case-insensitive; ``-`` and ``_`` are the same).

    Raises:
        ValueError: for an unknown name (listing the allowed ones) or an invalid argument.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATAMODULES:
        raise ValueError(f"unknown dataset {name!r}; allowed names: {sorted(DATAMODULES)}")
    return DATAMODULES[key](**kwargs)


__all__ = [
    "DATAMODULES",
    "CIFAR10DataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "NucleiDataModule",
    "TensorBatchLoader",
    "TensorDataModule",
    "ToySegmentationDataModule",
    "default_data_dir",
    "find_nuclei_samples",
    "get_datamodule",
    "make_toy_segmentation",
    "random_crop_flip",
    "read_idx",
]
