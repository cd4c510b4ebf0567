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
