"""Teacher adapters: whatever the user fitted -> an ``(n_rows, n_outputs)`` matrix.

Classifiers give logits (:func:`teacher_logits`), regressors predictions
(:func:`teacher_predictions`: a scikit-learn regressor's or a skorch
``NeuralNetRegressor``'s ``predict``, or a torch module's outputs).

Supported teachers, checked in this order:

- a torch ``nn.Module`` returning logits (a single column is the positive
  class's logit of a binary problem);
- a skorch ``NeuralNet`` (logits from the module when its criterion is
  ``CrossEntropyLoss``, otherwise the log of ``predict_proba``);
- a scikit-learn classifier (``FrozenEstimator`` and ``Pipeline`` included),
  through ``predict_proba`` (log of the clipped probabilities, row-centred) or
  else ``decision_function`` (binary ``d`` becomes ``[-d/2, d/2]``; a
  one-vs-one ``decision_function`` is refused).

A ``FrozenEstimator`` counts as the estimator it wraps.

An unfitted scikit-learn or skorch teacher is cloned and fitted on ``(X, y)``.
"""

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_bdistil._modes import eval_mode, module_placement

__all__ = ["fit_regression_teacher", "fit_teacher", "is_dataframe", "is_fitted", "like_frame",
           "teacher_classes", "teacher_logits", "teacher_predictions", "PROBA_EPS"]

#: Probabilities are clipped to at least this before the log, so a teacher
#: that is certain does not produce infinite logit gaps.
PROBA_EPS = 1e-4


def _unfrozen(teacher):
    """The estimator inside a ``sklearn.frozen.FrozenEstimator``, else ``teacher``."""
    from sklearn.frozen import FrozenEstimator

    while isinstance(teacher, FrozenEstimator):
        teacher = teacher.estimator
    return teacher


def _is_skorch(teacher):
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(_unfrozen(teacher), NeuralNet)


def _final_step(teacher):
    """The estimator that makes the predictions.

    Unwraps ``FrozenEstimator``, ``Pipeline`` and fitted meta-estimators that
    predict through one fitted estimator: a search's ``best_estimator_``
    (``GridSearchCV``), or ``estimator_`` (``SelfTrainingClassifier``).
    """
    teacher = _unfrozen(teacher)
    steps = getattr(teacher, "steps", None)
    if isinstance(steps, list) and steps:
        return _final_step(steps[-1][1])
    for name in ("best_estimator_", "estimator_"):
        inner = getattr(teacher, name, None)
        if inner is not None and inner is not teacher and hasattr(inner, "decision_function"):
            return _final_step(inner)
    return teacher


def _check_scores(teacher):
    """Refuse a teacher that gives no scores to distil (``None`` included)."""
    if not (hasattr(teacher, "predict_proba") or hasattr(teacher, "decision_function")):
        raise TypeError(
            "The teacher must be a torch.nn.Module returning logits or a "
            "classifier with predict_proba or decision_function; "
            f"{type(teacher).__name__} has neither."
        )


def is_fitted(teacher):
    """Whether ``teacher`` can predict as it is (``None``, the teacher of
    precomputed ``teacher_logits``, cannot)."""
    if teacher is None:
        return False
    if isinstance(teacher, torch.nn.Module):
        return True
    if _is_skorch(teacher):
        return bool(getattr(_unfrozen(teacher), "initialized_", False))
    if not hasattr(teacher, "fit"):  # a bare predictor: nothing to fit
        return True
    try:
        check_is_fitted(teacher)
    except NotFittedError:
        return False
    return True


def fit_teacher(teacher, X, y):
    """Return a fitted teacher: ``teacher`` itself, or a fitted clone of it.

    Raises
    ------
    TypeError
        If the teacher is neither a torch module nor an estimator with
        ``fit`` and ``predict_proba`` or ``decision_function``.
    ValueError
        If the teacher is unfitted and ``y`` is None.
    """
    if isinstance(teacher, torch.nn.Module):
        return teacher
    _check_scores(teacher)
    if is_fitted(teacher):
        return teacher
    if y is None:
        raise ValueError(
            f"The teacher {type(teacher).__name__} is not fitted, so fit needs y "
            "to fit it; pass y or a fitted teacher (e.g. wrapped in "
            "sklearn.frozen.FrozenEstimator)."
        )
    fitted = clone(teacher)
    if _is_skorch(fitted):
        from skorch import NeuralNetBinaryClassifier

        if isinstance(fitted, NeuralNetBinaryClassifier) and not np.isin(
                np.unique(y), [0, 1]).all():
            raise ValueError(
                f"skorch's NeuralNetBinaryClassifier trains on 0/1 targets and reports "
                f"classes [0, 1], but y holds {np.unique(y)[:5].tolist()}. Encode y as "
                "0/1 (e.g. with sklearn.preprocessing.LabelEncoder), or use a "
                "NeuralNetClassifier with two outputs, which keeps the labels.")
        if fitted.get_params().get("classes", False) is None:
            # a NeuralNetClassifier's loss needs targets 0..L-1: train on the codes
            # and let the net report the labels themselves as classes_
            labels, codes = np.unique(y, return_inverse=True)
            if not np.array_equal(labels, np.arange(len(labels))):
                fitted.set_params(classes=list(labels))
                y = codes
        fitted.fit(np.asarray(X, dtype=np.float32), y)
    else:
        fitted.fit(X, y)
    return fitted


def teacher_classes(teacher, n_outputs, y=None, classes=None):
    """The class labels, in the order of the teacher's logit columns.

    ``classes`` (the estimator's parameter) when given, else the teacher's
    ``classes_``. A teacher without ``classes_`` (a torch module, a skorch
    ``NeuralNet``) gets ``np.unique(y)`` when ``y`` has exactly ``n_outputs``
    distinct values and ``0..n_outputs-1`` without ``y``. A ``y`` with fewer
    distinct values is refused: which output is which label is then a guess
    (labels 1, 2, 3 with 3 absent would read as 0, 1, 2).
    """
    own = getattr(teacher, "classes_", None)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(np.unique(classes)) != len(classes):
            raise ValueError(
                f"classes must be a 1-D list of distinct labels, got {classes.tolist()!r}.")
        if own is not None and not np.array_equal(np.asarray(own), classes):
            raise ValueError(
                f"classes={classes[:10].tolist()} differs from the teacher's classes_ "
                f"{np.asarray(own)[:10].tolist()}; leave classes=None for a teacher "
                "that has classes_.")
        return classes
    if own is not None:
        return np.asarray(own)
    if y is None:
        return np.arange(n_outputs)
    labels = np.unique(y)
    if len(labels) < n_outputs:
        raise ValueError(
            f"The teacher has no classes_ and y holds {len(labels)} distinct labels for "
            f"its {n_outputs} outputs, so which output is which label is ambiguous. Pass "
            f"classes=[...] (one label per output, in output order), or a y that holds "
            "every class.")
    return labels


def is_dataframe(X):
    """Whether ``X`` is a pandas DataFrame (passed to scikit-learn teachers as it is)."""
    return hasattr(X, "iloc") and hasattr(X, "columns")


def like_frame(values, frame):
    """``values`` (a 2-D float array) as a DataFrame with the columns of ``frame``.

    The values stay floats (augmented rows of integer features are not integers).
    """
    return type(frame)(values, columns=frame.columns)


def _in_batches(logits_of, X, batch_size):
    """``logits_of`` applied to ``X`` in batches, written into one float32 array.

    One preallocated output rather than a concatenated list of batch outputs,
    which fragments the heap (see :func:`sklearn_bdistil._inference.stage_outputs`).
    """
    out = np.empty((X.shape[0], 0), dtype=np.float32)
    rows = X.iloc if is_dataframe(X) else X
    for start in range(0, X.shape[0], batch_size):
        part = np.asarray(logits_of(rows[start:start + batch_size]))
        if start == 0:
            out = np.empty((X.shape[0], *part.shape[1:]), dtype=np.float32)
        out[start:start + len(part)] = part
    return out


@torch.no_grad()
def _torch_logits(module, X, batch_size):
    """Logits of a torch module teacher; inputs in the dtype of its parameters."""
    device, dtype = module_placement(module)
    name = type(module).__name__

    def logits_of(rows):
        rows = _writable(np.asarray(rows))  # a DataFrame's values
        try:
            out = module(torch.as_tensor(rows, dtype=dtype, device=device))
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(
                f"The teacher module {name} failed on a batch of shape {rows.shape} "
                f"({dtype}, on {device}): {exc}"
            ) from exc
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"The teacher module {name} returned {type(out).__name__}; it must return "
                "one tensor of logits of shape (n_rows, n_classes). Wrap it in a module "
                "whose forward returns the logits alone."
            )
        return out.float().cpu().numpy()

    with eval_mode(module):
        return _in_batches(logits_of, X, batch_size)


def _writable(rows):
    """``rows``, copied if read-only (joblib's memmaps in parallel searches):
    torch warns on every tensor made from a read-only buffer."""
    return rows if rows.flags.writeable else rows.copy()


def _log_proba(proba):
    log_p = np.log(np.clip(np.asarray(proba, dtype=np.float64), PROBA_EPS, None))
    return log_p - log_p.mean(axis=1, keepdims=True)


def _estimator_logits(teacher, X):
    if _is_skorch(teacher):
        teacher, X = _unfrozen(teacher), _writable(np.asarray(X, dtype=np.float32))
        if isinstance(getattr(teacher, "criterion_", None), torch.nn.CrossEntropyLoss):
            return teacher.forward(X, training=False).float().cpu().numpy()
    if hasattr(teacher, "predict_proba"):
        return _log_proba(teacher.predict_proba(X))
    final = _final_step(teacher)
    if (getattr(final, "decision_function_shape", None) == "ovo"
            and len(getattr(final, "classes_", ())) > 2):
        raise ValueError(
            f"The teacher {type(final).__name__} has decision_function_shape='ovo': its "
            "decision_function gives one column per pair of classes, not one per class, "
            "so it cannot serve as logits. Fit it with decision_function_shape='ovr' "
            "or probability=True."
        )
    d = np.asarray(teacher.decision_function(X), dtype=np.float64)
    if d.ndim == 1:
        return np.column_stack([-d / 2.0, d / 2.0])
    return d


def teacher_logits(teacher, X, batch_size=8192):
    """Teacher logits on ``X``, computed in batches of ``batch_size`` rows.

    Returns
    -------
    logits : ndarray of shape (n_rows, n_classes), float32
    """
    if isinstance(teacher, torch.nn.Module):
        out = _torch_logits(teacher, X, batch_size)
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
            # one logit d of the positive class (BCEWithLogitsLoss): as a binary
            # decision_function, softmax([-d/2, d/2]) = [1 - sigmoid(d), sigmoid(d)]
            d = out.reshape(-1, 1)
            out = np.hstack([-d / 2, d / 2])
    else:
        _check_scores(teacher)
        out = _in_batches(lambda rows: _estimator_logits(teacher, rows), X, batch_size)
    if out.ndim != 2:
        raise ValueError(
            f"The teacher returned outputs of shape {out.shape}; expected "
            "(n_rows, n_classes) logits."
        )
    if not np.isfinite(out).all():
        raise ValueError("The teacher returned non-finite logits (NaN or inf).")
    return out


def fit_regression_teacher(teacher, X, y):
    """A fitted regression teacher: ``teacher`` itself, or a fitted clone of it."""
    if isinstance(teacher, torch.nn.Module):
        return teacher
    if not hasattr(teacher, "predict"):
        raise TypeError(
            "The teacher must be a torch.nn.Module or a regressor with predict; "
            f"{type(teacher).__name__} has no predict.")
    if is_fitted(teacher):
        return teacher
    if y is None:
        raise ValueError(
            f"The teacher {type(teacher).__name__} is not fitted, so fit needs y to fit "
            "it; pass y or a fitted teacher (e.g. wrapped in sklearn.frozen.FrozenEstimator).")
    fitted = clone(teacher)
    if _is_skorch(fitted):
        y = np.asarray(y, dtype=np.float32)
        fitted.fit(np.asarray(X, dtype=np.float32), y.reshape(len(y), -1))
    else:
        fitted.fit(X, y)
    return fitted


def teacher_predictions(teacher, X, batch_size=8192):
    """A regression teacher's predictions on ``X``, in batches, as ``(n_rows, n_outputs)``.

    Returns
    -------
    predictions : ndarray of shape (n_rows, n_outputs), float32
    one_d : bool
        Whether the teacher answered one value per row (a 1-D array).
    """
    if teacher is None or not (isinstance(teacher, torch.nn.Module)
                               or hasattr(teacher, "predict")):
        raise TypeError(
            "The teacher must be a torch.nn.Module or a regressor with predict; "
            f"{type(teacher).__name__} has no predict.")
    if isinstance(teacher, torch.nn.Module):
        out = _torch_logits(teacher, X, batch_size)
    elif _is_skorch(teacher):
        net = _unfrozen(teacher)
        out = _in_batches(lambda rows: net.predict(_writable(np.asarray(rows, np.float32))),
                          X, batch_size)
    else:
        out = _in_batches(lambda rows: np.asarray(teacher.predict(rows), dtype=np.float64),
                          X, batch_size)
    one_d = out.ndim == 1
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    if out.ndim != 2 or out.shape[0] != X.shape[0]:
        raise ValueError(
            f"The teacher returned predictions of shape {out.shape}; expected "
            f"(n_rows={X.shape[0]},) or (n_rows, n_outputs).")
    if not np.isfinite(out).all():
        raise ValueError("The teacher returned non-finite predictions (NaN or inf).")
    return out, one_d
