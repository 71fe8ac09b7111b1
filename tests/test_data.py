import gzip
from pathlib import Path

import pytest
import torch

from vae_course import data

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_shared_mnist = pytest.mark.skipif(
    not data.mnist_available(SHARED_MNIST),
    reason=f"real MNIST files not found at {SHARED_MNIST} (only present on the course's build machines)")


@pytest.fixture(autouse=True)
def private_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VAE_COURSE_DOWNLOAD", raising=False)


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = data.load_digits("train"), data.load_digits("test")
    assert train.x.shape == (1437, 1, 8, 8) and test.x.shape == (360, 1, 8, 8)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert 0 <= train.x.min() and train.x.max() <= 1 and train.x.max() == 1
    assert torch.equal(data.load_digits("train").x, train.x)  # same split every call
    assert torch.bincount(test.y).min() >= 35  # every class present in the test split
    flat_train = {tuple(r.tolist()) for r in train.x.flatten(1)}
    overlap = sum(tuple(r.tolist()) in flat_train for r in test.x.flatten(1))
    assert overlap <= 2  # a couple of duplicate images exist in the raw data set itself


def test_digits_returns_copies():
    a = data.load_digits("train")
    a.x.zero_()
    assert data.load_digits("train").x.max() == 1


def test_unknown_split_and_name_are_clear_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_digits("validation")
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_dataset("cifar")


def test_missing_mnist_falls_back_to_digits_with_one_line(capsys):
    ds = data.load_dataset("mnist", "test")
    out = capsys.readouterr().out.strip().splitlines()
    assert ds.name == "digits" and ds.x.shape[1:] == (1, 8, 8)
    assert len(out) == 1 and "VAE_COURSE_DOWNLOAD=1" in out[0] and "digits" in out[0]


def test_missing_mnist_without_download_raises():
    with pytest.raises(FileNotFoundError, match="MNIST files not found"):
        data.load_mnist("train")


def test_mnist_files_are_torchvisions():
    from torchvision.datasets import MNIST
    assert {f"{name}.gz": md5 for name, md5 in data.MNIST_FILES.items()} == dict(MNIST.resources)


def test_failed_download_says_what_to_do_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "MIRRORS", ["http://127.0.0.1:9/"])  # closed port: fails at once
    root = tmp_path / "dl"
    with pytest.raises(RuntimeError, match="copy the four MNIST .gz files") as info:
        data.load_mnist("train", root=root, download=True)
    assert "digits" in str(info.value)
    assert list(root.iterdir()) == []  # no half-written files or temporary folders


def test_corrupt_gzip_is_reported(tmp_path):
    raw = tmp_path / "bad" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        with gzip.open(raw / f"{name}.gz", "wb") as f:
            f.write(b"not mnist")
    with pytest.raises(ValueError, match="corrupt"):
        data.load_mnist("test", root=tmp_path / "bad")


@needs_shared_mnist
def test_real_mnist_files_load_without_writing_beside_them(tmp_path):
    before = sorted(p.name for p in (SHARED_MNIST / "MNIST" / "raw").iterdir())
    ds = data.load_mnist("test", root=SHARED_MNIST)
    assert ds.name == "mnist" and ds.x.shape == (10000, 1, 28, 28) and ds.y.shape == (10000,)
    assert 0 <= ds.x.min() and ds.x.max() == 1 and ds.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert sorted(p.name for p in (SHARED_MNIST / "MNIST" / "raw").iterdir()) == before
    assert (tmp_path / "cache" / "mnist" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


@needs_shared_mnist
def test_load_dataset_uses_mnist_from_the_data_root(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_DATA", str(SHARED_MNIST))
    assert data.mnist_available() and data.load_dataset("mnist", "test").name == "mnist"


def test_binarize_draws_bernoulli_pixels():
    x = torch.full((20000,), 0.3)
    b = data.binarize(x, generator=torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.01
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.binarize(torch.tensor([1.5]))
