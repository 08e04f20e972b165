"""Tests of lightning_imc.data: the data modules on data generated here in each dataset's real format."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from lightning_imc import data as D
from lightning_imc.data import classification as C

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "data"


# ---------------------------------------------------------------------------------------------
# writers of the real on-disk formats
# ---------------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` (uint8) as an idx file: 0, 0, type 0x08, ndim, big-endian int32 sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def make_fashion_files(folder: Path, n_train: int = 50, n_test: int = 20, compress: bool = True, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, stem in C.FASHION_MNIST_FILES.items():
        write_idx(folder / stem, arrays[key], compress=compress)
    return arrays


def make_cifar_files(root: Path, per_batch: int = 4, n_test: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """CIFAR-10's python format: pickled dicts with 'data' (N, 3072) uint8 rows (R, G, B planes) and 'labels'."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_data, train_labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({"batch_label": f"training batch {i} of 5", "labels": labels, "data": data}, f)
        train_data.append(data)
        train_labels += labels
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, n_test)]
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test}, f)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return {
        "train": np.concatenate(train_data),
        "train_labels": np.array(train_labels),
        "test": test,
        "test_labels": np.array(test_labels),
    }


def make_nuclei_folder(root: Path, n: int = 6, size: tuple[int, int] = (24, 20), seed: int = 0) -> dict[str, np.ndarray]:
    """2018 Data Science Bowl layout: <id>/images/<id>.png (RGBA) and <id>/masks/*.png (one per nucleus)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size
    unions = {}
    for k in range(n):
        sample_id = f"{k:04d}abcdef"
        (root / sample_id / "images").mkdir(parents=True)
        (root / sample_id / "masks").mkdir(parents=True)
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        rgba[..., 3] = 255
        Image.fromarray(rgba, "RGBA").save(root / sample_id / "images" / f"{sample_id}.png")
        union = np.zeros((h, w), dtype=bool)
        for j in range(1 + k % 3):
            m = np.zeros((h, w), dtype=np.uint8)
            y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
            m[y0 : y0 + 4, x0 : x0 + 4] = 255
            union |= m > 0
            Image.fromarray(m).save(root / sample_id / "masks" / f"mask{j}.png")
        unions[sample_id] = union
    return unions


# ---------------------------------------------------------------------------------------------
# batching
# ---------------------------------------------------------------------------------------------


def _epoch_ids(loader) -> list[int]:
    return [int(v) for batch in loader for v in batch[1]]


def test_tensor_loader_every_sample_once_reshuffled_and_reproducible():
    x = torch.arange(103, dtype=torch.float32).view(-1, 1)
    y = torch.arange(103)
    loader = D.TensorBatchLoader((x, y), 10, shuffle=True, seed=3)
    assert len(loader) == 11
    e0, e1 = _epoch_ids(loader), _epoch_ids(loader)
    assert sorted(e0) == list(range(103)) and sorted(e1) == list(range(103))
    assert e0 != e1  # reshuffled between epochs
    again = D.TensorBatchLoader((x, y), 10, shuffle=True, seed=3)
    assert _epoch_ids(again) == e0 and _epoch_ids(again) == e1  # same seed, same sequence of epochs
    assert _epoch_ids(D.TensorBatchLoader((x, y), 10, shuffle=True, seed=4)) != e0
    for batch in D.TensorBatchLoader((x, y), 10, shuffle=True, seed=3):
        assert torch.equal(batch[0].view(-1).long(), batch[1])  # x and y stay paired
    # set_epoch / epoch_fn pick the permutation of a given epoch
    loader.set_epoch(1)
    assert _epoch_ids(loader) == e1
    fixed = D.TensorBatchLoader((x, y), 10, shuffle=True, seed=3, epoch_fn=lambda: 0)
    assert _epoch_ids(fixed) == e0 == _epoch_ids(fixed)


def test_tensor_loader_drop_last_no_shuffle_and_ranks():
    y = torch.arange(25)
    loader = D.TensorBatchLoader((y,), 10, drop_last=True)
    assert len(loader) == 2 and [len(b[0]) for b in loader] == [10, 10]
    plain = D.TensorBatchLoader((y,), 10)
    assert len(plain) == 3 and torch.equal(torch.cat([b[0] for b in plain]), y)
    shards = [D.TensorBatchLoader((y,), 4, shuffle=True, seed=1, rank=r, world_size=2) for r in range(2)]
    ids = [[int(v) for b in s for v in b[0]] for s in shards]
    assert len(ids[0]) == len(ids[1]) == 12 and not set(ids[0]) & set(ids[1])
    assert len(shards[0]) == len(shards[1]) == 3
    with pytest.raises(ValueError, match="batch_size"):
        D.TensorBatchLoader((y,), 0)
    with pytest.raises(ValueError, match="same length"):
        D.TensorBatchLoader((y, y[:3]), 2)


def test_random_crop_flip_is_a_padded_crop_or_its_mirror():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 8, 8)
    out = D.random_crop_flip(x, g, padding=2)
    assert out.shape == x.shape
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(16):
        windows = [padded[b, :, i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) or torch.equal(out[b], w.flip(-1)) for w in windows)
    assert not torch.equal(out, x)
    same = D.random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(out, same)
    flipped_only = D.random_crop_flip(x, torch.Generator().manual_seed(1), padding=0)
    assert all(torch.equal(flipped_only[b], x[b]) or torch.equal(flipped_only[b], x[b].flip(-1)) for b in range(16))


# ---------------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------------


def test_digits_shapes_splits_and_determinism():
    dm = D.DigitsDataModule(batch_size=32, val_fraction=0.1, test_fraction=0.2, seed=5)
    assert dm.input_shape == (1, 8, 8) and dm.num_classes == 10 and dm.task == "classification"
    dm.setup("fit")
    sizes = dm.split_sizes()
    assert sum(sizes.values()) == 1797 and sizes["test"] == round(0.2 * 1797)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    xtr = dm.splits["train"][0]
    assert abs(float(xtr.mean())) < 1e-4 and abs(float(xtr.std()) - 1) < 1e-2  # normalised on the train split
    other = D.DigitsDataModule(batch_size=32, val_fraction=0.1, test_fraction=0.2, seed=5)
    other.setup()
    for split in ("train", "val", "test"):
        assert torch.equal(dm.splits[split][0], other.splits[split][0])
    assert [b[1].tolist() for b in dm.train_dataloader()] == [b[1].tolist() for b in other.train_dataloader()]
    third = D.DigitsDataModule(seed=6)
    third.setup()
    assert not torch.equal(third.splits["test"][1], dm.splits["test"][1])


def test_digits_image_size_subset_and_caps():
    for mode in ("bilinear", "nearest", "pad"):
        dm = D.DigitsDataModule(image_size=16, resize=mode, normalize=False)
        dm.setup()
        assert dm.input_shape == (1, 16, 16) and dm.splits["train"][0].shape[1:] == (1, 16, 16)
    padded = dm.splits["train"][0]
    assert float(padded[..., :4, :].abs().max()) == 0.0 and float(padded[..., 4:12, 4:12].max()) > 0
    full = D.DigitsDataModule()
    full.setup()
    half = D.DigitsDataModule(subset_fraction=0.5, max_eval_samples=50)
    half.setup()
    assert half.split_sizes()["train"] == round(0.5 * full.split_sizes()["train"])
    assert half.split_sizes()["val"] == half.split_sizes()["test"] == 50
    capped = D.DigitsDataModule(max_train_samples=100, batch_size=30, drop_last=True)
    capped.setup()
    assert capped.split_sizes()["train"] == 100 and len(capped.train_dataloader()) == 3


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"subset_fraction": 0.0}, "subset_fraction"),
        ({"subset_fraction": 1.5}, "subset_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction \\+ test_fraction"),
        ({"max_train_samples": 0}, "max_train_samples"),
        ({"image_size": 4}, "image_size"),
        ({"resize": "bicubic"}, "resize"),
        ({"seed": -1}, "seed"),
    ],
)
def test_argument_validation_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        D.DigitsDataModule(**kwargs)


def test_registry():
    assert set(D.DATAMODULES) == {"digits", "fashion_mnist", "cifar10", "nuclei", "toy_segmentation"}
    assert isinstance(D.get_datamodule("digits", batch_size=8), D.DigitsDataModule)
    assert isinstance(D.get_datamodule("Fashion-MNIST"), D.FashionMNISTDataModule)
    with pytest.raises(ValueError, match="allowed names.*cifar10.*digits"):
        D.get_datamodule("imagenet")
    with pytest.raises(ValueError, match="noise"):
        D.get_datamodule("toy_segmentation", noise=2.0)


def test_hydra_configs_instantiate():
    omegaconf = pytest.importorskip("omegaconf")
    hydra_utils = pytest.importorskip("hydra.utils")
    names = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
    assert names == sorted(D.DATAMODULES)
    for name in names:
        dm = hydra_utils.instantiate(omegaconf.OmegaConf.load(CONF_DIR / f"{name}.yaml"))
        assert isinstance(dm, D.DATAMODULES[name])


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_generated_idx_files(tmp_path, compress):
    arrays = make_fashion_files(tmp_path / "FashionMNIST" / "raw", compress=compress)
    assert np.array_equal(C.read_idx(next((tmp_path / "FashionMNIST" / "raw").glob("t10k-labels*"))), arrays["test_labels"])
    dm = D.FashionMNISTDataModule(root=tmp_path, batch_size=8, val_fraction=0.2, normalize=False)
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10
    dm.setup()
    assert dm.files["train_images"].parent == tmp_path / "FashionMNIST" / "raw"
    assert dm.split_sizes() == {"train": 40, "val": 10, "test": 20}
    x_test, y_test = dm.splits["test"]
    assert torch.allclose(x_test[:, 0] * 255, torch.from_numpy(arrays["test_images"]).float(), atol=1e-3)
    assert torch.equal(y_test, torch.from_numpy(arrays["test_labels"]).long())
    seen = torch.cat([dm.splits["train"][1], dm.splits["val"][1]]).sort().values
    assert torch.equal(seen, torch.from_numpy(arrays["train_labels"]).long().sort().values)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 28, 28)


def test_fashion_mnist_search_order(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "REPO_DATA_DIR", tmp_path / "repo_data")
    monkeypatch.setattr(C, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    make_fashion_files(tmp_path / "debian", n_train=10, n_test=5)
    dm = D.FashionMNISTDataModule()
    assert dm.locate()["train_images"].parent == tmp_path / "debian"
    make_fashion_files(tmp_path / "repo_data" / "FashionMNIST" / "raw", n_train=10, n_test=5, compress=False)
    assert dm.locate()["train_images"] == tmp_path / "repo_data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    make_fashion_files(tmp_path / "mine", n_train=10, n_test=5)
    assert D.FashionMNISTDataModule(root=tmp_path / "mine").locate()["test_labels"].parent == tmp_path / "mine"
    assert D.FashionMNISTDataModule(root=tmp_path / "empty").locate()["test_labels"].parent.name == "raw"


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an idx file"):
        C.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">i", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="truncated"):
        C.read_idx(tmp_path / "short")


def test_fashion_mnist_missing_files_message(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "REPO_DATA_DIR", tmp_path / "repo_data")
    monkeypatch.setattr(C, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    dm = D.FashionMNISTDataModule(root=tmp_path / "mine")
    with pytest.raises(FileNotFoundError) as err:
        dm.setup()
    message = str(err.value)
    for place in (tmp_path / "mine", tmp_path / "repo_data" / "FashionMNIST" / "raw", tmp_path / "debian"):
        assert str(place) in message
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message

    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(FileNotFoundError, match="download failed: no network"):
        D.FashionMNISTDataModule(root=tmp_path / "mine", download=True).prepare_data()


@pytest.mark.skipif(C.find_fashion_mnist(C.DEBIAN_FASHION_MNIST_DIR) is None, reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "REPO_DATA_DIR", tmp_path)  # so the Debian copy is the one found
    dm = D.FashionMNISTDataModule(max_train_samples=512, max_eval_samples=256)
    dm.setup()
    assert dm.files["train_images"].parent == C.DEBIAN_FASHION_MNIST_DIR
    assert dm.split_sizes() == {"train": 512, "val": 256, "test": 256}
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (256, 1, 28, 28) and int(y.max()) <= 9
    assert abs(float(dm.splits["train"][0].mean())) < 0.1  # the standard constants fit the real data


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------


def test_cifar10_through_torchvision_loader(tmp_path):
    arrays = make_cifar_files(tmp_path)
    dm = D.CIFAR10DataModule(root=tmp_path, batch_size=4, val_fraction=0.25, normalize=False)
    assert dm.input_shape == (3, 32, 32) and dm.num_classes == 10
    dm.setup()
    assert dm.split_sizes() == {"train": 15, "val": 5, "test": 6}
    assert dm.classes[0] == "airplane"
    x_test, y_test = dm.splits["test"]
    expected = torch.from_numpy(arrays["test"].reshape(-1, 3, 32, 32)).float() / 255  # rows are R, G, B planes
    assert torch.allclose(x_test, expected, atol=1e-6)
    assert y_test.tolist() == arrays["test_labels"].tolist()
    normed = D.CIFAR10DataModule(root=tmp_path, val_fraction=0.25)
    normed.setup()
    mean = torch.tensor(D.CIFAR10DataModule.mean).view(1, 3, 1, 1)
    std = torch.tensor(D.CIFAR10DataModule.std).view(1, 3, 1, 1)
    assert torch.allclose(normed.splits["test"][0], (expected - mean) / std, atol=1e-5)


def test_cifar10_checksums_and_tarball(tmp_path):
    make_cifar_files(tmp_path / "staging")
    with pytest.raises(RuntimeError, match="corrupted"):  # generated files fail torchvision's md5 check
        D.CIFAR10DataModule(root=tmp_path / "staging", verify_checksums=True).setup()
    (tmp_path / "tar").mkdir()
    with tarfile.open(tmp_path / "tar" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "staging" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    dm = D.CIFAR10DataModule(root=tmp_path / "tar", val_fraction=0.25, augment=True, batch_size=5)
    dm.prepare_data()
    assert (tmp_path / "tar" / "cifar-10-batches-py" / "data_batch_5").is_file()
    dm.setup()
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (5, 3, 32, 32)


def test_cifar10_missing_files_message(tmp_path, monkeypatch):
    dm = D.CIFAR10DataModule(root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert "cifar-10-python.tar.gz" in message and "download=False" in message
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        D.CIFAR10DataModule(root=tmp_path / "nowhere").setup()

    import torchvision.datasets

    class Offline:
        train_list, test_list, meta = [], [], {}

        def __init__(self, *args, **kwargs):
            raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(FileNotFoundError, match="download failed: no network"):
        D.CIFAR10DataModule(root=tmp_path / "nowhere", download=True).prepare_data()


# ---------------------------------------------------------------------------------------------
# segmentation
# ---------------------------------------------------------------------------------------------


def test_nuclei_loader_on_generated_folder(tmp_path):
    unions = make_nuclei_folder(tmp_path / "stage1_train", n=6, size=(24, 20))
    samples = D.find_nuclei_samples(tmp_path)  # parent of stage1_train/ works
    assert len(samples) == 6 and samples[0][0].name == "0000abcdef.png"
    dm = D.NucleiDataModule(root=tmp_path / "stage1_train", image_size=24, val_fraction=0.2, test_fraction=0.2, batch_size=2)
    assert dm.task == "segmentation" and dm.num_classes == 2 and dm.input_shape == (3, 24, 24)
    dm.setup()
    sizes = dm.split_sizes()
    assert sum(sizes.values()) == 6
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 24, 24) and y.shape == (2, 24, 24) and y.dtype == torch.int64
    assert set(torch.unique(y).tolist()) <= {0, 1}
    native = D.NucleiDataModule(root=tmp_path, image_size=24, channels=1)
    raw = native.load_splits()["train"]
    assert raw[0].shape == (6, 1, 24, 24)
    # the images are 24×20 (H×W): the combined mask is the union, resized with nearest-neighbour
    from PIL import Image

    for k, sid in enumerate(native.sample_ids):
        expected = np.asarray(Image.fromarray(unions[sid].astype(np.uint8) * 255).resize((24, 24), Image.NEAREST)) > 127
        assert torch.equal(raw[1][k], torch.from_numpy(expected).long())
        assert int(raw[1][k].sum()) > 0


def test_nuclei_missing_folder_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="images/<id>.png"):
        D.NucleiDataModule(root=tmp_path).setup()


def test_toy_segmentation_exact_masks_and_seed():
    x, y = D.make_toy_segmentation(20, image_size=16, noise=0.0, seed=1)
    assert x.shape == (20, 1, 16, 16) and y.shape == (20, 16, 16)
    assert (y.sum(dim=(1, 2)) > 0).all()
    fg = x[:, 0][y == 1].min()
    bg = x[:, 0][y == 0].max()
    assert fg >= 0.5 > 0.3 >= bg  # without noise, the mask is exactly the bright region
    x2, y2 = D.make_toy_segmentation(20, image_size=16, noise=0.0, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    dm = D.ToySegmentationDataModule(n_samples=40, image_size=16, batch_size=8)
    dm.setup()
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (8, 1, 16, 16) and yb.shape == (8, 16, 16) and dm.task == "segmentation"


# ---------------------------------------------------------------------------------------------
# Lightning integration
# ---------------------------------------------------------------------------------------------


class TinyClassifier(pl.LightningModule):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), num_classes))
        self.batches = {"train": 0, "val": 0, "test": 0}
        self.orders: dict[int, list[int]] = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.batches["train"] += 1
        self.orders.setdefault(self.current_epoch, []).extend(y.tolist())
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.batches["val"] += 1
        self.log("val_loss", nn.functional.cross_entropy(self.net(x), y))

    def test_step(self, batch, batch_idx):
        self.batches["test"] += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(**kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, **kwargs,
    )


def test_lightning_fast_dev_run_on_digits():
    dm = D.DigitsDataModule(batch_size=64)
    model = TinyClassifier(dm.input_shape, dm.num_classes)
    _trainer(fast_dev_run=True).fit(model, datamodule=dm)
    assert model.batches["train"] == 1 and model.batches["val"] == 1


def test_lightning_full_epochs_see_every_batch():
    dm = D.DigitsDataModule(batch_size=128, max_train_samples=600, max_eval_samples=200)
    model = TinyClassifier(dm.input_shape, dm.num_classes)
    trainer = _trainer(max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    assert model.batches["train"] == 2 * 5 and model.batches["val"] == 2 * 2
    assert model.orders[0] != model.orders[1]  # reshuffled between epochs
    assert sorted(model.orders[0]) == sorted(model.orders[1]) == sorted(dm.splits["train"][1].tolist())
    again = TinyClassifier(dm.input_shape, dm.num_classes)
    dm2 = D.DigitsDataModule(batch_size=128, max_train_samples=600, max_eval_samples=200)
    _trainer(max_epochs=2, num_sanity_val_steps=0).fit(again, datamodule=dm2)
    assert again.orders == model.orders  # same seed, same batches in every epoch
    assert dm.target_device() == torch.device("cpu")
    trainer.test(model, datamodule=dm, verbose=False)
    assert model.batches["test"] == 2
