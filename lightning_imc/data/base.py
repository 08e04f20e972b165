"""Tensor-resident LightningDataModules: the common base, the batch iterator and on-device augmentation.

Design (why there is no ``torch.utils.data.DataLoader`` here)
--------------------------------------------------------------
The datasets of this project are small (digits: 1 797 images of 8×8; Fashion-MNIST: 70 000 of
28×28, 220 MB as float32; CIFAR-10: 60 000 of 3×32×32, 740 MB as float32) and the searched networks
are tiny, so a per-sample ``DataLoader`` (index → ``__getitem__`` → collate → host-to-device copy)
costs about 30 % of a GPU epoch (DESIGN.md, "Facts already checked"). Instead:

1. ``setup()`` loads the whole dataset once as tensors on the CPU, splits it deterministically by
   ``seed`` and normalises it (float32, ``(N, C, H, W)``).
2. ``train_dataloader()`` / ``val_dataloader()`` / ``test_dataloader()`` move each split *once* to
   the trainer's device (``trainer.strategy.root_device``, which Lightning has set up before it
   calls the hooks; ``cpu`` when no trainer is attached, or the ``device`` argument when given) and
   return a :class:`TensorBatchLoader`: an iterable with ``len()`` that yields ``(x, y)`` slices
   of those tensors by a fresh seeded permutation every epoch.
3. Lightning's ``transfer_batch_to_device`` then finds the batch already on the right device, so
   the per-batch copy is a no-op. The same code therefore runs under ``Trainer(accelerator="cpu")``
   and ``Trainer(accelerator="gpu")`` without changes.

Under a multi-process strategy (DDP) every rank holds the whole dataset and takes every
``world_size``-th sample of the shared permutation, truncated so that all ranks see the same number
of batches (a few samples per epoch may be left out, as ``DistributedSampler(drop_last=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch

Batch = tuple[torch.Tensor, torch.Tensor]
#: A per-batch transform ``(x, generator) -> x`` run on the batch's device (training split only).
BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


# --------------------------------------------------------------------------------------------
# argument validation
# --------------------------------------------------------------------------------------------


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` if it is an integer in ``[minimum, maximum]``; raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value}")
    return value


def check_fraction(name: str, value: Any, *, allow_zero: bool = False, allow_one: bool = True) -> float:
    """Return ``value`` as float if it lies in (0, 1] (or the given variant); raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    high_ok = value <= 1.0 if allow_one else value < 1.0
    if not (low_ok and high_ok):
        interval = ("[" if allow_zero else "(") + "0, 1" + ("]" if allow_one else ")")
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool; raise a ValueError naming ``name`` (``"no"`` would read as true)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def memory_bytes() -> int:
    """This machine's physical memory in bytes (0 where the platform does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 0


def check_resident_size(name: str, value: Any, n_bytes: int, what: str) -> None:
    """Refuse a setting whose tensor-resident data (``n_bytes``, float32 images and their served copy) would not
    fit in this machine's memory, before anything is allocated; the ValueError names ``name=value``."""
    available = memory_bytes()
    if available and n_bytes > available:
        raise ValueError(f"{name}={value} would need {n_bytes / 1e9:,.1f} GB for {what}, more than this machine's "
                         f"{available / 1e9:,.1f} GB of memory; choose a smaller {name}")


def check_device(name: str, device: torch.device) -> None:
    """Refuse a CUDA or MPS ``device`` this machine does not have (ValueError naming ``name``)."""
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}={str(device)!r} but this machine has no CUDA GPU (torch.cuda.is_available() "
                             f"is False); use {name}=null (the trainer's device) or 'cpu'")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{name}={str(device)!r} but this machine has {count} CUDA GPU(s) "
                             f"(cuda:0..cuda:{count - 1})")
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{name}={str(device)!r} but MPS is not available on this machine; use {name}=null or 'cpu'")


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; raise a ValueError naming ``name`` and the choices."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# on-device augmentation
# --------------------------------------------------------------------------------------------


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """Random crop with zero padding plus random horizontal flip, per sample, with tensor ops.

    The standard CIFAR augmentation (``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``)
    done on a whole batch on its own device: pad by ``padding`` pixels on every side, cut an
    ``H×W`` window at a random offset in ``[0, 2·padding]`` per sample, and mirror half the samples.
    The random numbers come from ``generator`` (a CPU generator, so results do not depend on the
    device) and are moved to ``x.device``.

    Args:
        x: batch ``(B, C, H, W)``, already normalised (padding value 0 = the channel mean).
        generator: seeded CPU generator.
        padding: pixels of padding on each side (>= 0).
        flip: also flip horizontally with probability 1/2.

    Returns:
        A new tensor of the same shape, dtype and device.
    """
    b, c, h, w = x.shape
    out = x
    if padding > 0:
        padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device, non_blocking=True)
        ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device, non_blocking=True)
        rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]  # (B, H)
        cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]  # (B, W)
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        out = padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]
    if flip:
        mask = (torch.rand((b,), generator=generator) < 0.5).to(x.device, non_blocking=True)
        out = torch.where(mask[:, None, None, None], out.flip(-1), out)
    return out


# --------------------------------------------------------------------------------------------
# the batch iterator
# --------------------------------------------------------------------------------------------


class TensorBatchLoader:
    """Iterable of ``(x, y)`` batches sliced from resident tensors (a DataLoader stand-in).

    Every pass (``iter()``) draws a new permutation from a generator seeded with ``(seed, epoch)``,
    so epochs are reshuffled, yet the order of epoch ``e`` is the same in every run with the same
    seed (also after resuming, when ``epoch_fn`` returns the trainer's epoch). Every sample appears
    exactly once per pass (except the tail dropped by ``drop_last`` or by multi-rank truncation).

    Args:
        tensors: ``(x, y)`` (any number of tensors with the same first dimension ``N``); they stay
            where they are (move them to the device beforehand).
        batch_size: samples per batch (>= 1).
        shuffle: draw a permutation per pass; otherwise keep the stored order.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: base seed of the permutations.
        transform: optional per-batch transform of the first tensor (e.g. :func:`random_crop_flip`).
        rank, world_size: this process's share (``perm[rank::world_size]``, truncated to equal length).
        epoch_fn: returns the current epoch; without it, passes are counted internally.
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        transform: BatchTransform | None = None,
        rank: int = 0,
        world_size: int = 1,
        epoch_fn: Callable[[], int] | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("tensors must hold at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"all tensors must have the same length, got {[len(t) for t in tensors]}")
        self.tensors = tuple(tensors)
        self.batch_size = check_int("batch_size", batch_size)
        self.world_size = check_int("world_size", world_size)
        self.rank = check_int("rank", rank, 0, self.world_size - 1)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.transform = transform
        self.epoch_fn = epoch_fn
        self._passes = 0
        self._epoch_override: int | None = None

    @property
    def num_samples(self) -> int:
        """Samples served by this rank per pass (before ``drop_last``)."""
        return len(self.tensors[0]) // self.world_size if self.world_size > 1 else len(self.tensors[0])

    def __len__(self) -> int:
        """Number of batches per pass."""
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch used for the next pass's permutation (as ``DistributedSampler.set_epoch``)."""
        self._epoch_override = int(epoch)

    def _current_epoch(self) -> int:
        if self._epoch_override is not None:
            epoch, self._epoch_override = self._epoch_override, None
            return epoch
        if self.epoch_fn is not None:
            return int(self.epoch_fn())
        return self._passes

    def order(self, epoch: int) -> torch.Tensor:
        """Sample indices (CPU, int64) this rank visits in pass ``epoch``, before batching."""
        n_total = len(self.tensors[0])
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            index = torch.randperm(n_total, generator=gen)
        else:
            index = torch.arange(n_total)
        if self.world_size > 1:
            index = index[self.rank :: self.world_size][: self.num_samples]
        return index

    def __iter__(self) -> Iterator[Batch]:
        epoch = self._current_epoch()
        self._passes += 1
        index = self.order(epoch)
        device = self.tensors[0].device
        contiguous = not self.shuffle and self.world_size == 1
        if not contiguous:
            index = index.to(device, non_blocking=True)
        aug_gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 7_777_777) if self.transform else None
        n_batches = len(self)
        for i in range(n_batches):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, len(index))
            if contiguous:
                batch = [t[lo:hi] for t in self.tensors]
            else:
                idx = index[lo:hi]
                batch = [t.index_select(0, idx) for t in self.tensors]
            if self.transform is not None:
                batch[0] = self.transform(batch[0], aug_gen)
            yield tuple(batch)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# the base DataModule
# --------------------------------------------------------------------------------------------


class TensorDataModule(pl.LightningDataModule):
    """Base of all data modules: the whole dataset as normalised tensors, served by :class:`TensorBatchLoader`.

    Subclasses implement :meth:`load_splits` (and, where something may be downloaded,
    :meth:`prepare_data`) and set the class attributes / properties ``num_classes``,
    ``input_shape`` and ``task``.

    Splits: the dataset's own test split is used when it has one; otherwise ``test_fraction`` of
    all samples becomes the test split. ``val_fraction`` of the (remaining) training samples
    becomes the validation split. Both are drawn by a permutation seeded with ``seed``, so the
    split is the same in every run and on every machine.

    Quick budgets: ``subset_fraction`` keeps that fraction of the training split (a seeded subset)
    and ``max_train_samples`` / ``max_eval_samples`` cap the training and the validation/test splits.

    Normalisation: per channel, ``(x - mean) / std`` with the subclass's constants (``mean``/``std``
    class attributes) or, when those are ``None``, statistics of the training split.

    Args:
        batch_size: training batch size (>= 1).
        eval_batch_size: batch size of validation/test (default: ``batch_size``).
        val_fraction: share of the training samples held out for validation, in (0, 1).
        test_fraction: share of all samples used as the test split, in (0, 1) (only for datasets
            without an official test split).
        seed: seed of the split, the subset and the per-epoch shuffles.
        subset_fraction: share of the training split kept, in (0, 1].
        max_train_samples: cap on the training split (``None`` = no cap).
        max_eval_samples: cap on the validation and test splits (``None`` = no cap).
        drop_last: drop the last, smaller training batch.
        normalize: apply the per-channel normalisation.
        device: put the tensors on this device instead of the trainer's (e.g. ``"cpu"``).
    """

    #: ``"classification"`` (targets ``(N,)`` int64) or ``"segmentation"`` (targets ``(N, H, W)`` int64 in {0, 1}).
    task: str = "classification"
    #: per-channel normalisation constants; ``None`` = computed on the training split.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    #: whether the dataset comes with its own test split (then ``test_fraction`` is unused).
    has_test_split: bool = False

    def __init__(
        self,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        subset_fraction: float = 1.0,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        drop_last: bool = False,
        normalize: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        self.batch_size = check_int("batch_size", batch_size)
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size) if eval_batch_size is not None else batch_size
        self.val_fraction = check_fraction("val_fraction", val_fraction, allow_one=False)
        self.test_fraction = check_fraction("test_fraction", test_fraction, allow_one=False)
        if not self.has_test_split and self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1, got {self.val_fraction} + {self.test_fraction}"
            )
        self.seed = check_int("seed", seed, 0)
        self.subset_fraction = check_fraction("subset_fraction", subset_fraction)
        self.max_train_samples = check_int("max_train_samples", max_train_samples) if max_train_samples is not None else None
        self.max_eval_samples = check_int("max_eval_samples", max_eval_samples) if max_eval_samples is not None else None
        self.drop_last = check_bool("drop_last", drop_last)
        self.normalize = check_bool("normalize", normalize)
        try:
            self.device = torch.device(device) if device is not None else None
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(f"device must be null or a torch device such as 'cpu', 'cuda' or 'cuda:1', got {device!r}") from None
        if self.device is not None:
            check_device("device", self.device)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.norm_mean: torch.Tensor | None = None
        self.norm_std: torch.Tensor | None = None
        self._resident: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}

    # ---- what models are built from ------------------------------------------------------

    @property
    def num_classes(self) -> int:
        """Number of classes (segmentation: 2, background and foreground)."""
        raise NotImplementedError

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one input sample (known before ``setup``)."""
        raise NotImplementedError

    # ---- loading ----------------------------------------------------------------------------

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Return the raw dataset: ``{"train": (x, y)}`` plus ``"test"`` when it has an official one.

        ``x``: float32 ``(N, C, H, W)`` in [0, 1] (or uint8, then divided by 255); ``y``: int64
        ``(N,)`` class indices, or ``(N, H, W)`` masks in {0, 1} for segmentation.
        """
        raise NotImplementedError

    def train_transform(self) -> BatchTransform | None:
        """Per-batch on-device augmentation of the training split (``None`` = none)."""
        return None

    @staticmethod
    def _as_float(x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.float().div_(255.0)
        return x.float()

    def _cap(self, x: torch.Tensor, y: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        if limit is not None and len(x) > limit:
            return x[:limit], y[:limit]
        return x, y

    def setup(self, stage: str | None = None) -> None:
        """Load, split, subset and normalise once (later calls do nothing)."""
        if self.splits:
            return
        raw = self.load_splits()
        x_all, y_all = raw["train"]
        x_all = self._as_float(x_all)
        y_all = y_all.long()
        gen = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(len(x_all), generator=gen)
        if "test" in raw:
            x_test, y_test = raw["test"]
            x_test, y_test = self._as_float(x_test), y_test.long()
        else:
            n_test = max(1, int(round(self.test_fraction * len(x_all))))
            x_test, y_test = x_all[perm[:n_test]], y_all[perm[:n_test]]
            perm = perm[n_test:]
        n_val = max(1, int(round(self.val_fraction * len(perm))))
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        if self.subset_fraction < 1.0:
            train_idx = train_idx[: max(1, int(round(self.subset_fraction * len(train_idx))))]
        if len(train_idx) == 0:
            raise ValueError(f"no training samples left ({len(x_all)} samples, val_fraction={self.val_fraction})")
        x_train, y_train = self._cap(x_all[train_idx], y_all[train_idx], self.max_train_samples)
        x_val, y_val = self._cap(x_all[val_idx], y_all[val_idx], self.max_eval_samples)
        x_test, y_test = self._cap(x_test, y_test, self.max_eval_samples)

        channels = x_train.shape[1]
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, dtype=torch.float32)
            std = torch.tensor(self.std, dtype=torch.float32)
        else:
            mean = x_train.mean(dim=(0, 2, 3))
            std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)
        self.norm_mean, self.norm_std = mean.reshape(channels), std.reshape(channels)
        splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
        for name, (x, y) in splits.items():
            if self.normalize:
                x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
            self.splits[name] = (x.contiguous(), y.contiguous())

    # ---- serving ----------------------------------------------------------------------------

    def target_device(self) -> torch.device:
        """Where the tensors are kept: ``device`` if given, else the trainer's root device, else CPU."""
        if self.device is not None:
            return self.device
        trainer = self.trainer
        if trainer is not None:
            return trainer.strategy.root_device
        return torch.device("cpu")

    def resident(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of ``split`` ("train", "val", "test") on :meth:`target_device` (moved once, cached)."""
        if not self.splits:
            self.setup()
        device = self.target_device()
        key = (split, str(device))
        if key not in self._resident:
            x, y = self.splits[split]
            self._resident[key] = (x.to(device), y.to(device))
        return self._resident[key]

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _epoch_fn(self) -> Callable[[], int] | None:
        if self.trainer is None:
            return None
        trainer = self.trainer
        return lambda: trainer.current_epoch

    def _loader(self, split: str, batch_size: int, train: bool) -> TensorBatchLoader:
        rank, world = self._rank_world()
        return TensorBatchLoader(
            self.resident(split),
            batch_size,
            shuffle=train,
            drop_last=self.drop_last if train else False,
            seed=self.seed,
            transform=self.train_transform() if train else None,
            rank=rank,
            world_size=world,
            epoch_fn=self._epoch_fn() if train else None,
        )

    def train_dataloader(self) -> TensorBatchLoader:
        """Shuffled (seeded, new order every epoch) batches of the training split."""
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> TensorBatchLoader:
        """Batches of the validation split in a fixed order."""
        return self._loader("val", self.eval_batch_size, train=False)

    def test_dataloader(self) -> TensorBatchLoader:
        """Batches of the test split in a fixed order."""
        return self._loader("test", self.eval_batch_size, train=False)

    def predict_dataloader(self) -> TensorBatchLoader:
        """Same as :meth:`test_dataloader`."""
        return self.test_dataloader()

    def split_sizes(self) -> dict[str, int]:
        """Number of samples per split (after ``setup``)."""
        return {name: len(x) for name, (x, _) in self.splits.items()}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(task={self.task!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, batch_size={self.batch_size}, seed={self.seed})"
        )

    __str__ = __repr__  # Lightning's __str__ would build every dataloader
