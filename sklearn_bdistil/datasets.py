"""Real data sets that install from a package registry, shaped for students.

Nothing here downloads: each loader reads a file that a package ships and says
which package to install when it is missing.
"""

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_watch"]


def _seglearn_watch_file():
    spec = importlib.util.find_spec("seglearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The watch data set ships with the PyPI package 'seglearn'; install "
            "it with `pip install seglearn` (or `pip install 'sklearn-bdistil[examples]'`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "watch_dataset.npy"
    if not path.exists():
        raise FileNotFoundError(f"seglearn is installed but {path} is missing.")
    return path


def load_watch(window=100, step=50):
    """Smartwatch IMU recordings of 7 shoulder exercises, cut into fixed windows.

    The recordings (seglearn's ``load_watch``: 140 recordings of 10 subjects,
    6 inertial channels at 50 Hz) are cut into windows of ``window`` samples
    every ``step`` samples. Each window is one row, flattened channel-major so
    that ``data.reshape(n, 6, window)`` recovers it (the layout
    :class:`~sklearn_bdistil.students.Conv1dStudent` expects). Split by
    ``groups`` (the subject), never by window: windows of one recording
    overlap and would leak across a random split.

    Parameters
    ----------
    window : int, default=100
        Samples per window (2 s at 50 Hz).
    step : int, default=50
        Samples between window starts.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (n_windows, 6 * window) float32, ``target`` (n_windows,) int
        exercise, ``groups`` (n_windows,) subject, ``target_names``,
        ``channel_names``, ``n_channels``.

    Raises
    ------
    ImportError
        If seglearn, which ships the data, is not installed.
    """
    if window < 1 or step < 1:
        raise ValueError(f"window and step must be positive, got {window}, {step}.")
    raw = np.load(_seglearn_watch_file(), allow_pickle=True).item()
    rows, target, groups = [], [], []
    for series, label, subject in zip(raw["X"], raw["y"], raw["subject"], strict=True):
        series = np.asarray(series, dtype=np.float32)  # (n_samples, 6)
        for start in range(0, len(series) - window + 1, step):
            rows.append(series[start:start + window].T.reshape(-1))
            target.append(label)
            groups.append(subject)
    return Bunch(
        data=np.stack(rows),
        target=np.asarray(target, dtype=np.int64),
        groups=np.asarray(groups, dtype=np.int64),
        target_names=np.asarray(raw["y_labels"]),
        channel_names=list(raw["X_labels"]),
        n_channels=len(raw["X_labels"]),
    )
