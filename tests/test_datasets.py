import importlib.util

import numpy as np
import pytest

from sklearn_bdistil import datasets
from sklearn_bdistil.datasets import load_watch


def test_watch_windows_are_channel_major_and_grouped_by_subject():
    data = load_watch(window=50, step=50)
    n = len(data.target)
    assert data.data.shape == (n, 6 * 50) and data.data.dtype == np.float32
    assert data.n_channels == 6 and len(data.channel_names) == 6
    assert set(np.unique(data.groups)) == set(range(1, 11))
    assert set(np.unique(data.target)) == set(range(7))
    assert len(data.target_names) == 7
    raw = np.load(datasets._seglearn_watch_file(), allow_pickle=True).item()
    # the first window is the first 50 samples of the first recording, channel-major
    np.testing.assert_allclose(data.data[0].reshape(6, 50), raw["X"][0][:50].T, rtol=1e-6)
    assert data.groups[0] == raw["subject"][0] and data.target[0] == raw["y"][0]


def test_watch_needs_seglearn(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install seglearn"):
        load_watch()


def test_watch_rejects_bad_windows():
    with pytest.raises(ValueError, match="positive"):
        load_watch(window=0)


@pytest.mark.parametrize("name", ["window", "step"])
@pytest.mark.parametrize("value", [50.5, 50.0, "50", None, True])
def test_watch_rejects_non_integer_window_and_step(name, value):
    with pytest.raises(TypeError, match=f"{name} must be a positive integer"):
        load_watch(**{name: value})


@pytest.mark.parametrize("name", ["window", "step"])
def test_watch_rejects_window_and_step_below_one(name):
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer \(>= 1\), got -3"):
        load_watch(**{name: -3})


def test_watch_window_longer_than_every_recording():
    pytest.importorskip("seglearn")
    raw = np.load(datasets._seglearn_watch_file(), allow_pickle=True).item()
    longest = max(len(series) for series in raw["X"])
    with pytest.raises(ValueError, match=f"window=100000: the longest has {longest} samples"):
        load_watch(window=100000)
    # a window as long as the longest recording gives one window per such recording
    data = load_watch(window=longest, step=longest)
    n_longest = sum(len(series) == longest for series in raw["X"])
    assert data.data.shape == (n_longest, 6 * longest)


def test_watch_accepts_numpy_integers():
    pytest.importorskip("seglearn")
    data = load_watch(window=np.int64(50), step=np.int32(50))
    assert data.data.shape[1] == 6 * 50
