"""Checks of ``fit``'s input: data, students, precomputed logits, classes; the held-out split."""

import inspect
import warnings

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from sklearn_bdistil import _teacher
from sklearn_bdistil._find_wl import build_stage
from sklearn_bdistil.students._base import check_factory

__all__ = ["check_classes", "check_float32_range", "check_groups", "check_students",
           "check_teacher_logits", "check_teacher_quality",
           "fit_teacher_needs_y", "probe_students", "split_rows", "validate_fit_data"]


def fit_teacher_needs_y(teacher):
    """Whether fitting ``teacher`` needs labels (it is an unfitted estimator)."""
    try:
        return not _teacher.is_fitted(teacher)
    except TypeError:
        return False


def check_float32_range(X):
    """Refuse values that are finite in float64 but overflow the students' float32.

    ``validate_data`` checks finiteness in the input's dtype; the students
    compute in float32, where such a value is ``inf`` and its row's outputs NaN.
    """
    if X.dtype == np.float64 and X.size:
        limit = float(np.finfo(np.float32).max)
        if X.max() > limit or X.min() < -limit:
            raise ValueError(
                "Input X contains a value too large for dtype('float32') (the students "
                f"compute in float32, whose largest value is {limit:.4g}). Rescale X, "
                "e.g. with a StandardScaler in front of the estimator.")
    return X


def check_numeric_columns(X):
    """Refuse a DataFrame with non-numeric columns, naming them.

    The teacher may encode such a column itself (a pipeline with a
    ``OneHotEncoder``), but the students take X's values as floats.
    """
    if not _teacher.is_dataframe(X):
        return
    bad = [str(c) for c, kind in zip(X.columns, [d.kind for d in X.dtypes], strict=True)
           if kind not in "biufc"]
    if bad:
        raise ValueError(
            f"X has non-numeric columns {bad[:10]}: the students take X's values as "
            "floats, so every column must be numeric. Encode those columns before the "
            "estimator (e.g. a ColumnTransformer with a OneHotEncoder in a Pipeline in "
            "front of it, with the teacher fitted behind the same step).")


def validate_fit_data(estimator, X, y, teacher_logits=None):
    """``(X, y)`` checked by scikit-learn's ``validate_data``; ``y`` may be None.

    ``y`` is required only when the teacher must be fitted and no precomputed
    logits stand in for it.
    """
    if y is None:
        if teacher_logits is not None or not fit_teacher_needs_y(estimator.teacher):
            check_numeric_columns(X)
            X = validate_data(estimator, X, dtype=[np.float64, np.float32])
            return check_float32_range(X), None
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            f"is None: the teacher {type(estimator.teacher).__name__} is not fitted. "
            "Pass y, or a fitted teacher (e.g. in sklearn.frozen.FrozenEstimator)."
        )
    check_numeric_columns(X)
    X, y = validate_data(estimator, X, y, dtype=[np.float64, np.float32])
    check_classification_targets(y)
    return check_float32_range(X), y


def check_optimizer(optimizer, weight_decay):
    """A ``TypeError`` that names the problem where ``optimizer`` cannot take the
    ``weight_decay`` it is to be given (instead of one from deep inside skorch)."""
    if not weight_decay:
        return
    try:
        params = inspect.signature(optimizer).parameters
    except (TypeError, ValueError):  # no signature to read: let the optimizer decide
        return
    if "weight_decay" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    raise TypeError(
        f"optimizer={optimizer!r} takes no weight_decay argument, but weight_decay="
        f"{weight_decay} is to be passed to it. Set weight_decay=0 for this optimizer, or "
        "use one that takes it (every torch.optim optimizer does).")


def check_students(students, default):
    """The ladder as a list (``default`` for None); every entry a factory, none missing."""
    students = default if students is None else students
    if len(students) == 0:
        raise ValueError("students is empty; give at least one student factory.")
    for factory in students:
        check_factory(factory)
    return list(students)


def probe_students(students, n_features, n_classes, connection):
    """Build each of ``students`` once, before any training: a ladder entry that
    fails to build (bad arguments, wrong output shape, not connectable) must not
    surface only when a later round escalates to it."""
    for factory in students:
        build_stage(factory, n_features, n_classes, connection, None, seed=0)


def check_teacher_logits(teacher_logits, n_samples):
    """Precomputed teacher logits as a finite float32 ``(n_samples, n_classes)`` array."""
    if isinstance(teacher_logits, torch.Tensor):  # e.g. still attached to a graph, or on a GPU
        teacher_logits = teacher_logits.detach().cpu()
    G = np.asarray(teacher_logits, dtype=np.float32)
    if G.ndim != 2 or G.shape[0] != n_samples or G.shape[1] < 2:
        raise ValueError(
            f"teacher_logits must have shape (n_samples={n_samples}, n_classes>=2); "
            f"got {G.shape}."
        )
    if not np.isfinite(G).all():
        raise ValueError("teacher_logits contains NaN or infinity.")
    return G


#: What usually makes a fitted teacher useless on the transfer set.
_TEACHER_CAUSES = (
    "It most likely sees other inputs than it was fitted on, e.g. a Pipeline step in "
    "front of BDistilClassifier (a StandardScaler) that the teacher was not fitted "
    "behind: the teacher receives what BDistilClassifier receives, so put such steps "
    "inside the teacher (one fitted pipeline) or fit the teacher behind them; or it is "
    "not trained (a torch module straight from its constructor)."
)


def check_teacher_quality(teacher, G, codes, stacklevel=2):
    """Warn when the teacher's logits ``G`` look useless on the transfer set.

    With labels (``codes``, indices into the classes): the teacher is right no
    more often than always answering the most frequent label. Without: it
    answers one class for every row. Either is what a teacher fed inputs it
    was not fitted on (or an untrained module) does, and distilling it gives a
    model that scores the majority rate without another word. Not judged on
    fewer than 20 rows, where chance decides either.
    """
    n = G.shape[0]
    if n < 20:
        return
    predicted = np.asarray(G).argmax(axis=1)
    name = type(teacher).__name__
    if codes is not None:
        counts = np.bincount(codes, minlength=G.shape[1])
        majority = counts.max() / n
        accuracy = float((predicted == codes).mean())
        if majority < 1.0 and accuracy <= majority:
            warnings.warn(
                f"The teacher ({name}) is right on {accuracy:.1%} of the {n} labelled "
                f"transfer rows, no better than always answering the most frequent label "
                f"({majority:.1%}). {_TEACHER_CAUSES}", UserWarning, stacklevel=stacklevel)
    elif len(np.unique(predicted)) == 1 and G.shape[1] >= 2:
        warnings.warn(
            f"The teacher ({name}) answers the same class for all {n} transfer rows. "
            f"{_TEACHER_CAUSES}", UserWarning, stacklevel=stacklevel)


def check_classes(teacher, n_outputs, y, classes=None):
    """The teacher's classes, checked against its logit columns and against ``y``."""
    given = classes
    classes = _teacher.teacher_classes(teacher, n_outputs, y, classes)
    if len(classes) != n_outputs:
        if given is not None:
            source = "classes= (the estimator's parameter) lists"
        elif getattr(teacher, "classes_", None) is not None:
            source = "the teacher's classes_ lists"
        else:
            source = "y holds"
        raise ValueError(
            f"{source} {len(classes)} classes but the teacher gives {n_outputs} logit "
            f"columns. Pass classes=[...] with one label per output, in output order"
            + (", or a y whose labels are the teacher's classes." if source == "y holds"
               else ".")
        )
    if n_outputs < 2:
        raise ValueError("The teacher must know at least 2 classes.")
    if y is not None:
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(unknown):
            raise ValueError(
                f"y contains labels the teacher does not know: {unknown[:10].tolist()}; "
                f"the teacher's classes are {classes[:10].tolist()}."
            )
    return classes


def check_groups(groups, n_samples):
    """``groups`` as integer codes of shape ``(n_samples,)`` (``None`` stays ``None``)."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(
            f"groups must have one label per row of X: X has {n_samples} rows, groups has "
            f"shape {groups.shape}.")
    try:
        return np.unique(groups, return_inverse=True)[1].astype(np.int64).reshape(-1)
    except TypeError as exc:  # e.g. None mixed with strings
        raise TypeError(f"groups must be sortable labels (numbers or strings): {exc}") from exc


#: Contiguous blocks the rows are cut into when no ``groups`` are given: the
#: held-out part is ``validation_fraction`` of them, so overlapping windows of
#: one recording (neighbours in ``X``) fall on one side of it, but for a block's
#: two ends.
N_BLOCKS = 40


def split_rows(n_samples, validation_fraction, seed, groups=None):
    """Training and held-out row indices, a function of ``seed``, ``n_samples`` and ``groups``.

    With ``groups`` (integer codes, see :func:`check_groups`) the held-out part
    is made of whole groups, ``validation_fraction`` of them (at least one),
    so that e.g. overlapping windows of one recording never sit on both sides.
    Without, it is made of contiguous blocks of rows (``N_BLOCKS`` of equal
    size, ``validation_fraction`` of them drawn at random): rows next to each
    other in ``X``, such as overlapping sensor windows, rarely straddle it.
    """
    if validation_fraction is None:
        return np.arange(n_samples), np.arange(0)
    if groups is not None:
        codes = np.unique(groups)
        if len(codes) < 2:
            raise ValueError(
                "groups holds a single group, but the held-out part must be made of whole "
                "groups: pass at least 2 groups, or validation_fraction=None.")
        n_valid = min(max(1, int(round(validation_fraction * len(codes)))), len(codes) - 1)
        held = np.random.RandomState(seed).permutation(codes)[:n_valid]
        valid = np.isin(groups, held)
        return np.flatnonzero(~valid), np.flatnonzero(valid)
    if int(round(validation_fraction * n_samples)) in (0, n_samples):
        return np.arange(n_samples), np.arange(0)  # too few rows to hold any out
    blocks = np.array_split(np.arange(n_samples), min(N_BLOCKS, n_samples))
    n_valid = min(max(1, int(round(validation_fraction * len(blocks)))), len(blocks) - 1)
    held = np.random.RandomState(seed).permutation(len(blocks))[:n_valid]
    valid = np.zeros(n_samples, dtype=bool)
    for b in held:
        valid[blocks[b]] = True
    return np.flatnonzero(~valid), np.flatnonzero(valid)
