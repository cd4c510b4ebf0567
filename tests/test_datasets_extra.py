"""Fashion-MNIST and letter loaders: idx parsing on tiny fake files, install hints,
and (where the Debian packages are installed) the real shapes."""

import gzip
import importlib.util
import struct

import numpy as np
import pytest

from sklearn_bdistil import datasets
from sklearn_bdistil.datasets import load_fashion_mnist, load_letter, read_idx


def _write_idx(path, array, compress):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">i", d) for d in array.shape)
    payload = header + array.tobytes()
    if compress:
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def _fake_fashion(folder, compress, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    parts = {"train": n_train, "t10k": n_test}
    arrays = {}
    for part, n in parts.items():
        img = rng.integers(0, 256, size=(n, 28, 28))
        lab = rng.integers(0, 10, size=n)
        suffix = ".gz" if compress else ""
        _write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", img, compress)
        _write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", lab, compress)
        arrays[part] = (img, lab)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_idx_gz_or_not(tmp_path, compress):
    arrays = _fake_fashion(tmp_path, compress)
    data = load_fashion_mnist(data_home=tmp_path)
    assert data.data.shape == (8, 784) and data.data.dtype == np.float32
    assert data.image_shape == (28, 28)
    np.testing.assert_array_equal(data.is_test, [False] * 5 + [True] * 3)
    np.testing.assert_array_equal(data.target[:5], arrays["train"][1])
    np.testing.assert_array_equal(data.target[5:], arrays["t10k"][1])
    np.testing.assert_allclose(data.data[5].reshape(28, 28), arrays["t10k"][0][0] / 255.0,
                               rtol=1e-6)
    assert len(data.target_names) == 10


def test_read_idx_rejects_bad_header_and_size(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(struct.pack(">BBBBi", 0, 0, 0x08, 1, 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="shape"):
        read_idx(short)


def test_fashion_mnist_missing_names_the_debian_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(data_home=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(data_home=tmp_path)  # exists but empty


def test_letter_missing_file_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_r_library_dirs", lambda: [tmp_path])
    if importlib.util.find_spec("rdata") is None:
        pytest.skip("rdata is not installed")
    with pytest.raises(FileNotFoundError, match="apt-get install r-cran-mlbench"):
        load_letter()
    with pytest.raises(FileNotFoundError, match="apt-get install r-cran-mlbench"):
        load_letter(data_home=tmp_path)


def test_letter_needs_rdata(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rdata" else real(name, *a))
    with pytest.raises(ImportError, match="pip install rdata"):
        load_letter()


def test_fashion_mnist_real_shapes():
    try:
        data = load_fashion_mnist()
    except FileNotFoundError:
        pytest.skip("dataset-fashion-mnist is not installed")
    assert data.data.shape == (70000, 784)
    assert data.is_test.sum() == 10000 and not data.is_test[:60000].any()
    assert set(np.unique(data.target)) == set(range(10))
    assert 0.0 <= data.data.min() and data.data.max() <= 1.0


def test_letter_real_shapes():
    try:
        data = load_letter()
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(f"letter data unavailable: {exc}")
    assert data.data.shape == (20000, 16) and data.data.dtype == np.float32
    assert len(data.target_names) == 26 and data.target_names[0] == "A"
    assert set(np.unique(data.target)) == set(range(26))
    assert len(data.feature_names) == 16


def test_regression_loaders_name_plotnine_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    for loader in (datasets.load_diamonds, datasets.load_txhousing):
        with pytest.raises(ImportError, match="pip install plotnine"):
            loader()


@pytest.mark.skipif(importlib.util.find_spec("plotnine") is None,
                    reason="plotnine not installed (pip install plotnine)")
def test_regression_loaders_real_shapes():
    diamonds = datasets.load_diamonds()
    assert diamonds.data.shape == (53940, 9) and diamonds.data.dtype == np.float32
    assert diamonds.target.shape == (53940,)
    assert np.exp(diamonds.target).min() == pytest.approx(326)  # dollars
    cut = diamonds.data[:, diamonds.feature_names.index("cut")]
    assert set(np.unique(cut)) == {0, 1, 2, 3, 4}
    tx = datasets.load_txhousing()
    assert tx.data.shape == (7126, 50) and np.isfinite(tx.data).all()
    assert tx.data[:, 4:].sum(axis=1).tolist() == [1.0] * len(tx.data)  # one city each
    assert len(np.unique(tx.groups)) == 46 and np.isfinite(tx.target).all()
