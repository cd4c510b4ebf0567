"""Staged, budgeted and early-exit prediction of a fitted stage-wise ensemble.

:class:`StagedPredictorMixin` needs ``estimators_`` (modules on the CPU),
``estimator_weights_``, ``classes_``, ``cumulative_costs_``,
``predict_batch_size`` and ``device``. Every method evaluates each student at
most once per row, carrying the prefix sum forward.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from sklearn_bdistil._find_wl import stage_outputs
from sklearn_bdistil._validation import check_float32_range, check_numeric_columns

__all__ = ["StagedPredictorMixin", "early_exit_curve", "resolve_device"]

_DTYPES = [np.float64, np.float32]


def resolve_device(device, *, fallback):
    """``torch.device(device)``, checked; with ``fallback`` a missing CUDA means CPU.

    A model fitted on a GPU must still predict on a CPU-only machine, so
    prediction falls back (with a warning) where fitting raises.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from exc
    if device.type == "meta":
        raise ValueError("device='meta' holds no values; use 'cpu' or an accelerator.")
    if not _available(device):
        if not fallback:
            what = ("CUDA is not available here" if device.type == "cuda"
                    else "that device is not available here")
            if device.type == "cuda" and torch.cuda.is_available():
                what = f"this machine has {torch.cuda.device_count()} CUDA device(s)"
            raise ValueError(f"device={str(device)!r} but {what}.")
        warnings.warn(f"device={str(device)!r} is not available here; predicting on the CPU.",
                      UserWarning, stacklevel=4)
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None:
        # "cuda" means the current device: name it, so that the copies of the stages
        # cached for it are not reused after torch.cuda.set_device moves elsewhere
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _available(device):
    """Whether tensors can be placed on ``device`` (its type, and its index if given)."""
    if device.type == "cpu":
        return True
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.mps, torch.xpu, ...
    if backend is not None and hasattr(backend, "is_available"):
        if not backend.is_available():
            return False
        count = getattr(backend, "device_count", None)
        return device.index is None or count is None or device.index < count()
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError):
        return False
    return True


def _softmax(F):
    F = np.asarray(F, dtype=np.float64)
    F = F - F.max(axis=1, keepdims=True)
    P = np.exp(F)
    return P / P.sum(axis=1, keepdims=True)


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


def _stage_key(module):
    """What identifies the current weights of ``module`` (or ``None``) without reading them."""
    if module is None:
        return None
    return id(module), tuple((t.data_ptr(), t._version)
                             for t in module.state_dict(keep_vars=True).values())


class StagedPredictorMixin:
    """Prediction methods of a ``F_k = a_1 f_1 + ... + a_k f_k`` ensemble."""

    # -------------------------------------------------------------- prefixes

    def _n_stages_for(self, n_stages, max_cost):
        """Number of stages to use, from ``n_stages`` or a cost budget (at least 1)."""
        check_is_fitted(self)
        if self.n_estimators_ == 0:
            # the empty ensemble F = 0 would answer classes_[0] for every row
            raise NotFittedError(
                f"This {type(self).__name__} kept no stage when it was fitted (its "
                "EarlyStoppingWarning or FitInterruptedWarning says why), so it cannot "
                "predict. Refit it, e.g. with a lower gamma, more max_epochs or larger "
                "students."
            )
        if n_stages is not None and max_cost is not None:
            raise ValueError("Give n_stages or max_cost, not both.")
        if max_cost is not None:
            if not isinstance(max_cost, Real) or not max_cost >= 0:
                raise ValueError(f"max_cost must be a non-negative number, got {max_cost!r}.")
            n = int(np.searchsorted(self.cumulative_costs_, max_cost, side="right"))
            if n == 0:
                raise ValueError(
                    f"max_cost={max_cost} is below the cost of the first stage "
                    f"({self.cumulative_costs_[0]:.0f} FLOPs per row)."
                )
            return n
        if n_stages is None:
            return self.n_estimators_
        if (not isinstance(n_stages, Integral) or isinstance(n_stages, bool)
                or not 1 <= n_stages <= self.n_estimators_):
            raise ValueError(
                f"n_stages must be an integer in [1, {self.n_estimators_}], got {n_stages!r}."
            )
        return int(n_stages)

    def _prediction_setup(self, X):
        """``X`` as a float32 tensor, and ``(student, connection)`` per stage, on the device."""
        check_is_fitted(self)
        check_numeric_columns(X)
        X = check_float32_range(validate_data(self, X, reset=False, dtype=_DTYPES))
        device = resolve_device(self.device, fallback=True)
        if not X.flags.writeable:  # torch warns on read-only buffers (e.g. from pandas)
            X = X.copy()
        return torch.as_tensor(X, dtype=torch.float32, device=device), self._stages_on(device)

    def _stages_on(self, device):
        """``(student, connection)`` per stage, on ``device``.

        The fitted modules stay on the CPU (picklable, loadable anywhere); for
        another device they are copied there once and the copies kept for
        later calls, so many small predictions on a GPU do not each pay for
        moving every stage. The copies are made again when a stage changes:
        another module, or a parameter or buffer replaced or modified in
        place (e.g. by ``load_state_dict``). Pickling drops them.
        """
        stages = list(zip(self.estimators_, self.connections_, strict=True))
        if device.type == "cpu":
            return stages
        key = (str(device), tuple(_stage_key(m) for stage in stages for m in stage))
        cached = self.__dict__.get("_device_stages")
        if cached is None or cached[0] != key:
            copies = [tuple(None if m is None else copy.deepcopy(m).to(device)
                            for m in stage) for stage in stages]
            cached = self._device_stages = (key, copies)
        return cached[1]

    def __getstate__(self):
        state = dict(super().__getstate__())  # object's own is the live __dict__
        state.pop("_device_stages", None)
        return state

    def _prefix_logits(self, X, n_stages=None, max_cost=None, fresh=False):
        """Yield the logits of the empty ensemble, then after each stage.

        Each student runs once and the prefix sum is carried forward. With
        ``fresh=False`` one tensor is updated in place; with ``fresh=True``
        each stage's sum is a new tensor the caller may keep.
        """
        X_t, modules = self._prediction_setup(X)  # X's errors first, as scikit-learn's
        n = self._n_stages_for(n_stages, max_cost)
        # float32 like the students' outputs: no per-stage dtype conversion
        F = torch.zeros(X_t.shape[0], len(self.classes_), device=X_t.device)
        yield F
        with_state, state = self._carries_state(), None
        for (student, connection), a in zip(modules[:n], self.estimator_weights_[:n],
                                            strict=True):
            f, state = stage_outputs(student, connection, X_t, state, self.predict_batch_size,
                                     with_state)
            F = torch.add(F, f, alpha=a) if fresh else F.add_(f, alpha=a)
            yield F

    def _carries_state(self):
        """Whether stages hand hidden states to their successors (connections)."""
        return any(c is not None for c in self.connections_)

    def _staged_logits(self, X):
        stages = self._prefix_logits(X, fresh=True)
        next(stages)  # the empty ensemble is not a stage
        for F in stages:
            yield F.cpu().numpy()

    def _final_logits(self, X, n_stages, max_cost):
        *_, F = self._prefix_logits(X, n_stages, max_cost)
        return F.cpu().numpy()

    def _to_decision(self, F):
        return F[:, 1] - F[:, 0] if F.shape[1] == 2 else F

    # ------------------------------------------------------------ public API

    def decision_function(self, X, n_stages=None, max_cost=None):
        """Ensemble logits ``F(x)`` (for two classes, ``F_1 - F_0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_stages : int, default=None
            Use only the first ``n_stages`` stages; ``None`` uses all.
        max_cost : float, default=None
            Use the longest prefix whose cumulative cost
            (``cumulative_costs_``, FLOPs per row) is at most ``max_cost``.

        Returns
        -------
        score : ndarray of shape (n_samples, n_classes) or (n_samples,), float32
        """
        return self._to_decision(self._final_logits(X, n_stages, max_cost))

    def predict_proba(self, X, n_stages=None, max_cost=None):
        """Class probabilities ``softmax(F(x))``; prefix as in :meth:`decision_function`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_stages : int, default=None
            Use only the first ``n_stages`` stages; ``None`` uses all.
        max_cost : float, default=None
            Use the longest prefix whose cumulative cost is at most ``max_cost``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return _softmax(self._final_logits(X, n_stages, max_cost))

    def predict(self, X, n_stages=None, max_cost=None):
        """Predicted class of each row; prefix as in :meth:`decision_function`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_stages : int, default=None
            Use only the first ``n_stages`` stages; ``None`` uses all.
        max_cost : float, default=None
            Use the longest prefix whose cumulative cost is at most ``max_cost``.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        F = self._final_logits(X, n_stages, max_cost)
        return self.classes_[np.argmax(F, axis=1)]

    def staged_decision_function(self, X):
        """Yield :meth:`decision_function` after each stage; each student runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        out : ndarray
            As :meth:`decision_function` returns it, for the first 1, 2, ... stages.
        """
        for F in self._staged_logits(X):
            yield self._to_decision(F)

    def staged_predict_proba(self, X):
        """Yield :meth:`predict_proba` after each stage; each student runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        out : ndarray
            As :meth:`predict_proba` returns it, for the first 1, 2, ... stages.
        """
        for F in self._staged_logits(X):
            yield _softmax(F)

    def staged_predict(self, X):
        """Yield :meth:`predict` after each stage; each student runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        out : ndarray
            As :meth:`predict` returns it, for the first 1, 2, ... stages.
        """
        for F in self._staged_logits(X):
            yield self.classes_[np.argmax(F, axis=1)]

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
