"""Image-classification data modules: scikit-learn digits, Fashion-MNIST and CIFAR-10."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from .base import (BatchTransform, TensorDataModule, check_bool, check_choice, check_int, check_resident_size,
                   random_crop_flip)

#: ``<repo>/data`` — the git-ignored folder where datasets are put (see ``data/README.md``).
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
#: Where Debian's ``dataset-fashion-mnist`` package installs the idx files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def default_data_dir() -> Path:
    """``<repo>/data``, the default ``root`` of the data modules."""
    return REPO_DATA_DIR


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


#: Images in scikit-learn's digits.
DIGITS_SAMPLES = 1797


class DigitsDataModule(TensorDataModule):
    """scikit-learn's bundled 8×8 handwritten digits (1 797 images, 10 classes): the embedded default.

    Nothing is downloaded. Pixels (0..16) are scaled to [0, 1]; the normalisation statistics are
    those of the training split. There is no official test split: ``test_fraction`` of the images
    form it.

    Args:
        image_size: side of the served images, >= 8. At 8 the images are as stored; larger sizes
            let nets with several 2×2 poolings (RLS-style) fit: ``resize="bilinear"``/``"nearest"``
            upsamples, ``resize="pad"`` puts the 8×8 digit in the middle of a zero canvas.
        resize: ``"bilinear"``, ``"nearest"`` or ``"pad"``.
        **kwargs: see :class:`~lightning_imc.data.base.TensorDataModule` (batch size, fractions, seed, ...).
    """

    def __init__(self, image_size: int = 8, resize: str = "bilinear", batch_size: int = 64, **kwargs) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.image_size = check_int("image_size", image_size, 8)
        self.resize = check_choice("resize", resize, ("bilinear", "nearest", "pad"))
        # the resized images and the copy served from the trainer's device, float32
        check_resident_size("image_size", self.image_size, 2 * DIGITS_SAMPLES * self.image_size ** 2 * 4,
                            f"{DIGITS_SAMPLES} digits at {self.image_size}×{self.image_size}")

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, self.image_size, self.image_size)

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        from sklearn.datasets import load_digits

        data = load_digits()
        x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
        y = torch.tensor(data.target, dtype=torch.long)
        if self.image_size != 8:
            s = self.image_size
            if self.resize == "pad":
                before = (s - 8) // 2
                x = torch.nn.functional.pad(x, (before, s - 8 - before, before, s - 8 - before))
            elif self.resize == "nearest":
                x = torch.nn.functional.interpolate(x, size=(s, s), mode="nearest")
            else:
                x = torch.nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False).clamp_(0, 1)
        return {"train": (x, y)}


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (the MNIST/Fashion-MNIST format), gzip-compressed or not.

    Layout: two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions ``d``, then
    ``d`` big-endian int32 sizes, then the data in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {raw[:4]!r})")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    count = int(np.prod(shape)) if shape else 1
    offset = 4 + 4 * ndim
    if len(raw) - offset < count * dtype.itemsize:
        raise ValueError(f"{path} is truncated: header says {shape}, found {len(raw) - offset} data bytes")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return data.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_fashion_mnist(folder: str | os.PathLike) -> dict[str, Path] | None:
    """The four Fashion-MNIST idx files in ``folder`` (``.gz`` or not), or ``None`` if any is missing."""
    folder = Path(folder)
    found = {key: _find_idx(folder, stem) for key, stem in FASHION_MNIST_FILES.items()}
    if any(p is None for p in found.values()):
        return None
    return found  # type: ignore[return-value]


class FashionMNISTDataModule(TensorDataModule):
    """Fashion-MNIST (60 000 training + 10 000 test images, 1×28×28, 10 classes).

    The idx files (``train-images-idx3-ubyte[.gz]`` etc.) are looked for, in this order, in

    1. ``root`` and ``root/FashionMNIST/raw`` when ``root`` is given;
    2. ``<repo>/data/FashionMNIST/raw`` (torchvision's layout) and ``<repo>/data/fashion-mnist``;
    3. ``/usr/share/datasets/fashion-mnist`` (Debian: ``apt-get install dataset-fashion-mnist``);
    4. with ``download=True``, torchvision downloads them into ``<root or repo/data>/FashionMNIST/raw``
       (in :meth:`prepare_data`, i.e. once per machine).

    When none has them, a FileNotFoundError lists every place searched and how to get the data.
    Normalisation: the usual constants mean 0.2860, std 0.3530.

    Args:
        root: folder to look in first (and to download into); ``None`` = ``<repo>/data``.
        download: allow a torchvision download when no local copy is found.
        **kwargs: see :class:`~lightning_imc.data.base.TensorDataModule`.
    """

    has_test_split = True
    mean = (0.2860,)
    std = (0.3530,)

    def __init__(self, root: str | os.PathLike | None = None, download: bool = False, batch_size: int = 256, **kwargs) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root = Path(root).expanduser() if root is not None else None
        self.download = check_bool("download", download)

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, 28, 28)

    def search_dirs(self) -> list[Path]:
        """The folders searched, in order."""
        dirs: list[Path] = []
        if self.root is not None:
            dirs += [self.root, self.root / "FashionMNIST" / "raw"]
        dirs += [REPO_DATA_DIR / "FashionMNIST" / "raw", REPO_DATA_DIR / "fashion-mnist", DEBIAN_FASHION_MNIST_DIR]
        return dirs

    def locate(self) -> dict[str, Path] | None:
        """Paths of the four idx files from the first folder that has them all, or ``None``."""
        for folder in self.search_dirs():
            found = find_fashion_mnist(folder)
            if found is not None:
                return found
        return None

    def _download_root(self) -> Path:
        return self.root if self.root is not None else REPO_DATA_DIR

    def prepare_data(self) -> None:
        """Download through torchvision when allowed and no local copy exists."""
        if self.locate() is not None or not self.download:
            return
        from torchvision.datasets import FashionMNIST

        try:
            FashionMNIST(str(self._download_root()), train=True, download=True)
            FashionMNIST(str(self._download_root()), train=False, download=True)
        except Exception as err:  # network errors come in many types
            raise FileNotFoundError(self._missing_message(f"torchvision download failed: {err}")) from err

    def _missing_message(self, extra: str = "") -> str:
        lines = ["Fashion-MNIST idx files not found. Searched (in order):"]
        lines += [f"  - {d}" for d in self.search_dirs()]
        lines += [
            "Each folder must hold " + ", ".join(f"{s}[.gz]" for s in FASHION_MNIST_FILES.values()) + ".",
            "Get them with one of:",
            "  - apt-get install dataset-fashion-mnist   (Debian; installs into /usr/share/datasets/fashion-mnist)",
            f"  - FashionMNISTDataModule(download=True)    (torchvision download into {self._download_root() / 'FashionMNIST' / 'raw'})",
            f"  - copy the four files into {REPO_DATA_DIR / 'FashionMNIST' / 'raw'} or pass root=<folder>",
        ]
        if not self.download:
            lines.append("(download=False: no download was attempted)")
        if extra:
            lines.append(extra)
        return "\n".join(lines)

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        files = self.locate()
        if files is None:
            if self.download:
                self.prepare_data()
                files = self.locate()
            if files is None:
                raise FileNotFoundError(self._missing_message())
        self.files = files
        out = {}
        for split in ("train", "test"):
            images = read_idx(files[f"{split}_images"])
            labels = read_idx(files[f"{split}_labels"])
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise ValueError(
                    f"Fashion-MNIST {split} files have unexpected shapes {images.shape} and {labels.shape}"
                )
            out[split] = (torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
        return out


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def _cifar10_class(verify_checksums: bool):
    """torchvision's CIFAR10, or a subclass that only checks that the files exist.

    The subclass changes nothing but the md5 sums (``None`` = presence check only), so the real
    torchvision reading code runs on re-packed or generated copies too.
    """
    from torchvision.datasets import CIFAR10

    if verify_checksums:
        return CIFAR10

    class CIFAR10AnyChecksum(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return CIFAR10AnyChecksum


class CIFAR10DataModule(TensorDataModule):
    """CIFAR-10 (50 000 training + 10 000 test images, 3×32×32, 10 classes) via torchvision's loader.

    Files: ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` (the
    extracted ``cifar-10-python.tar.gz``; a tarball lying in ``root`` is extracted automatically).
    With ``download=True`` torchvision downloads it in :meth:`prepare_data`; when the files are
    absent and the download is disabled or fails, a FileNotFoundError names the folder to fill.

    Normalisation: the standard per-channel constants (mean 0.4914, 0.4822, 0.4465; std 0.2470,
    0.2435, 0.2616). Optional on-device augmentation of the training batches (random crop with
    4-pixel padding + horizontal flip): ``augment=True``.

    Args:
        root: folder holding ``cifar-10-batches-py/``; ``None`` = ``<repo>/data``.
        download: allow a torchvision download when the files are absent.
        augment: random crop (padding 4) + horizontal flip on every training batch, on its device.
        verify_checksums: check torchvision's md5 sums of the files (off: presence check only).
        **kwargs: see :class:`~lightning_imc.data.base.TensorDataModule`.
    """

    has_test_split = True
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        download: bool = False,
        augment: bool = False,
        verify_checksums: bool = False,
        batch_size: int = 128,
        **kwargs,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root = Path(root).expanduser() if root is not None else REPO_DATA_DIR
        self.download = check_bool("download", download)
        self.augment = check_bool("augment", augment)
        self.verify_checksums = check_bool("verify_checksums", verify_checksums)

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, 32, 32)

    @property
    def folder(self) -> Path:
        """``<root>/cifar-10-batches-py``."""
        return self.root / CIFAR10_FOLDER

    def _files_present(self) -> bool:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
        return all((self.folder / n).is_file() for n in names)

    def _missing_message(self, extra: str = "") -> str:
        lines = [
            f"CIFAR-10 not found: expected the folder {self.folder} with data_batch_1 ... data_batch_5, "
            "test_batch and batches.meta.",
            f"Put the extracted '{CIFAR10_FOLDER}/' folder (or '{CIFAR10_ARCHIVE}') into {self.root}, "
            "or pass root=<folder containing it>.",
            "The archive is https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz; "
            "CIFAR10DataModule(download=True) fetches it where the internet is reachable.",
        ]
        if not self.download:
            lines.append("(download=False: no download was attempted)")
        if extra:
            lines.append(extra)
        return "\n".join(lines)

    def prepare_data(self) -> None:
        """Extract a lying tarball, or download when allowed; raise FileNotFoundError when impossible."""
        if self._files_present():
            return
        archive = self.root / CIFAR10_ARCHIVE
        if archive.is_file():
            from torchvision.datasets.utils import extract_archive

            extract_archive(str(archive), str(self.root))
            if self._files_present():
                return
        if not self.download:
            raise FileNotFoundError(self._missing_message())
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _cifar10_class(True)(str(self.root), train=True, download=True)
        except Exception as err:  # network errors come in many types
            raise FileNotFoundError(self._missing_message(f"torchvision download failed: {err}")) from err

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        self.prepare_data()  # no-op when present; extracts or raises the clear error otherwise
        cls = _cifar10_class(self.verify_checksums)
        out = {}
        for split, train in (("train", True), ("test", False)):
            ds = cls(str(self.root), train=train, download=False)
            x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
            y = torch.tensor(ds.targets, dtype=torch.long)
            out[split] = (x, y)
            self.classes = list(ds.classes)
        return out

    def train_transform(self) -> BatchTransform | None:
        return random_crop_flip if self.augment else None
