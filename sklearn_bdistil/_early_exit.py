"""Early exit: each row stops at the first stage that is confident enough.

:class:`EarlyExitMixin` gives a staged classifier ``predict_early_exit``;
:func:`early_exit_curve` sweeps thresholds with each student run once.
"""

from numbers import Real

import numpy as np
import torch
from sklearn.utils.validation import check_consistent_length

from sklearn_bdistil._inference import stage_outputs
from sklearn_bdistil._predict import _softmax

__all__ = ["EarlyExitMixin", "early_exit_curve"]


def _confidence(F, kind):
    """Per-row confidence of logits ``F`` (numpy): max probability or top-2 margin."""
    if kind == "proba":
        return _softmax(F).max(axis=1)
    top2 = np.partition(F, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


#: Where each kind of confidence lies, and so every threshold that means something:
#: 0 stops every row after the first stage, 1 (for probabilities) only rows that
#: are certain.
_CONFIDENCE_RANGES = {"proba": (0.0, 1.0, "[0, 1]"), "margin": (0.0, np.inf, "[0, inf)")}


def _check_threshold(threshold, confidence):
    """``threshold`` as a float in the range of ``confidence`` (a clear error outside it)."""
    low, high, where = _CONFIDENCE_RANGES[confidence]
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(
            f"threshold must be a real number, got {threshold!r} "
            f"({type(threshold).__name__}); confidence={confidence!r} lies in {where}."
        )
    if not low <= threshold <= high:  # NaN too
        raise ValueError(
            f"threshold={threshold!r} is outside {where}, where confidence={confidence!r} "
            "lies: no row could exit at it (or every row would). Use predict() for the "
            "full ensemble, predict(n_stages=1) for the first stage."
        )
    return float(threshold)


class EarlyExitMixin:
    """``predict_early_exit`` of a :class:`~sklearn_bdistil._predict.StagedPredictorMixin`
    classifier."""

    def predict_early_exit(self, X, threshold=0.9, confidence="proba"):
        """Predict each row with the first prefix that is confident enough.

        Rows are evaluated stage by stage; a row stops at the first stage
        whose confidence reaches ``threshold`` (or at the last stage), and
        later students are never run on it, so the average cost per row falls
        with the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        threshold : float, default=0.9
            Confidence at which a row exits, in the range of the confidence:
            ``[0, 1]`` for ``"proba"``, ``[0, inf)`` for ``"margin"`` (outside
            it, a ``ValueError``). 0 stops every row after the first stage;
            a threshold that no row reaches runs the full ensemble.
        confidence : {"proba", "margin"}, default="proba"
            ``"proba"``: the largest class probability; ``"margin"``: the gap
            between the two largest logits.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        n_stages_used : ndarray of shape (n_samples,)
            Number of stages evaluated for each row; its cost per row is
            ``cumulative_costs_[n_stages_used - 1]``.
        """
        if confidence not in ("proba", "margin"):
            raise ValueError(f"confidence must be 'proba' or 'margin', got {confidence!r}.")
        threshold = _check_threshold(threshold, confidence)
        X_t, modules = self._prediction_setup(X)
        self._n_stages_for(None, None)  # with stages
        F = torch.zeros(X_t.shape[0], len(self.classes_), device=X_t.device)
        used = np.zeros(X_t.shape[0], dtype=np.intp)
        active = np.arange(X_t.shape[0])
        with_state, state = self._carries_state(), None  # state: of the active rows
        for k, ((student, connection), a) in enumerate(
                zip(modules, self.estimator_weights_, strict=True)):
            if not len(active):
                break
            rows = torch.as_tensor(active, device=X_t.device)
            f, state = stage_outputs(student, connection, X_t[rows], state,
                                     self.predict_batch_size, with_state)
            # the same float32 arithmetic as the staged methods
            F_rows = torch.add(F[rows], f, alpha=a)
            F[rows] = F_rows
            used[active] = k + 1
            keep = _confidence(F_rows.cpu().numpy(), confidence) < threshold
            active = active[keep]
            if state is not None:
                state = state[torch.as_tensor(keep, device=state.device)]
        F = F.cpu().numpy()
        return self.classes_[np.argmax(F, axis=1)], used



def early_exit_curve(estimator, X, y, thresholds=None, confidence="proba"):
    """Average cost and accuracy of early-exit prediction over thresholds.

    Equivalent to calling
    :meth:`sklearn_bdistil.BDistilClassifier.predict_early_exit` once
    per threshold, but each student runs once in all.

    Parameters
    ----------
    estimator : fitted BDistilClassifier
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels (or the teacher's predictions, for agreement), one per
        row of ``X``.
    thresholds : array-like, default=None
        Confidence thresholds, each in the range of ``confidence`` (see
        :meth:`~BDistilClassifier.predict_early_exit`); by default 21 values
        spanning the observed confidences.
    confidence : {"proba", "margin"}, default="proba"

    Returns
    -------
    curve : sklearn.utils.Bunch
        ``thresholds``, ``mean_cost`` (FLOPs per row, averaged over rows),
        ``mean_stages``, ``accuracy``; and for comparison the fixed prefixes'
        ``prefix_cost`` (``cumulative_costs_``) and ``prefix_accuracy``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_bdistil import BDistilClassifier, MLPStudent, early_exit_curve
    >>> X, y = load_iris(return_X_y=True)
    >>> teacher = LogisticRegression(max_iter=500).fit(X, y)
    >>> clf = BDistilClassifier(teacher, [MLPStudent((4,))], n_estimators=3, max_epochs=50,
    ...                         random_state=0).fit(X)
    >>> curve = early_exit_curve(clf, X, y, thresholds=[0.5, 0.9, 0.99])
    >>> bool(curve.mean_cost[0] <= curve.mean_cost[-1] <= clf.cumulative_costs_[-1])
    True
    """
    from sklearn.utils import Bunch

    if confidence not in ("proba", "margin"):
        raise ValueError(f"confidence must be 'proba' or 'margin', got {confidence!r}.")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, one label per row of X; got shape {y.shape}.")
    try:
        check_consistent_length(X, y)
    except ValueError:
        n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
        raise ValueError(f"y must have one label per row of X: X has {n_rows} rows, "
                         f"y has {len(y)} labels.") from None
    staged = np.stack(list(estimator._staged_logits(X)))  # (n_stages, n_rows, n_classes)
    conf = np.stack([_confidence(F, confidence) for F in staged])
    if thresholds is None:
        thresholds = np.unique(np.quantile(conf, np.linspace(0, 1, 21)))
    try:
        thresholds = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"thresholds must be real numbers: {exc}") from None
    if thresholds.ndim != 1 or not len(thresholds) or np.isnan(thresholds).any():
        raise ValueError("thresholds must be a non-empty 1-D sequence of real numbers "
                         f"without NaN; got {thresholds!r}.")
    for t in thresholds:
        _check_threshold(float(t), confidence)
    prefix_pred = estimator.classes_[staged.argmax(axis=2)]  # (n_stages, n_rows)
    rows = np.arange(staged.shape[1])
    mean_cost, mean_stages, accuracy = [], [], []
    for t in thresholds:
        passed = conf >= t
        passed[-1] = True  # every row exits at the last stage at the latest
        stage = passed.argmax(axis=0)
        mean_cost.append(estimator.cumulative_costs_[stage].mean())
        mean_stages.append((stage + 1).mean())
        accuracy.append((prefix_pred[stage, rows] == y).mean())
    return Bunch(thresholds=thresholds, mean_cost=np.asarray(mean_cost),
                 mean_stages=np.asarray(mean_stages), accuracy=np.asarray(accuracy),
                 prefix_cost=np.asarray(estimator.cumulative_costs_, dtype=np.float64),
                 prefix_accuracy=(prefix_pred == y).mean(axis=1))
