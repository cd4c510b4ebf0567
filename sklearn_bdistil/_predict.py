"""Staged and budgeted prediction of a fitted stage-wise ensemble, for both tasks.

:class:`StagedPredictorMixin` needs ``estimators_`` (modules on the CPU),
``connections_``, ``estimator_weights_``, ``cumulative_costs_``,
``predict_batch_size`` and ``device``; it yields the raw prefix sums, each
student evaluated at most once per row, carrying the prefix sum forward.
:class:`ClassifierPredictorMixin` links them to classes (softmax, argmax),
:class:`RegressorPredictorMixin` to the targets' units. The device handling
is in :mod:`sklearn_bdistil._device`, early exit in
:mod:`sklearn_bdistil._early_exit`.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted, validate_data

from sklearn_bdistil._device import resolve_device, stages_on
from sklearn_bdistil._inference import stage_outputs
from sklearn_bdistil._validation import check_float32_range, check_numeric_columns

__all__ = ["ClassifierPredictorMixin", "RegressorPredictorMixin", "StagedPredictorMixin",
           "resolve_device"]

_DTYPES = [np.float64, np.float32]


def _softmax(F):
    F = np.asarray(F, dtype=np.float64)
    F = F - F.max(axis=1, keepdims=True)
    P = np.exp(F)
    return P / P.sum(axis=1, keepdims=True)


class StagedPredictorMixin:
    """The prefixes ``F_k = a_1 f_1 + ... + a_k f_k`` of a fitted ensemble, raw.

    The task's link to predictions is in :class:`ClassifierPredictorMixin`
    and :class:`RegressorPredictorMixin`.
    """

    # -------------------------------------------------------------- prefixes

    def _n_stages_for(self, n_stages, max_cost):
        """Number of stages to use, from ``n_stages`` or a cost budget (at least 1)."""
        check_is_fitted(self)
        if self.n_estimators_ == 0:
            # the empty ensemble F = 0 would answer the same for every row
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
        return torch.as_tensor(X, dtype=torch.float32, device=device), stages_on(self, device)

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
        F = torch.zeros(X_t.shape[0], self._n_raw_outputs(), device=X_t.device)
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



class ClassifierPredictorMixin(StagedPredictorMixin):
    """Classification link: logits, softmax probabilities, argmax classes."""

    def _n_raw_outputs(self):
        return len(self.classes_)

    def _to_decision(self, F):
        return F[:, 1] - F[:, 0] if F.shape[1] == 2 else F


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


class RegressorPredictorMixin(StagedPredictorMixin):
    """Regression link: ``y = mean + scale * F`` per output, back to the targets' units.

    Needs ``_target_mean`` and ``_target_scale`` (the standardisation the
    rounds fit in) and ``n_outputs_``; a 1-D ``y`` at fit gives 1-D predictions.
    """

    def _n_raw_outputs(self):
        return len(self._target_scale)

    def _to_targets(self, F):
        y = self._target_mean + self._target_scale * np.asarray(F, dtype=np.float64)
        return y[:, 0] if self._y_1d else y

    def predict(self, X, n_stages=None, max_cost=None):
        """Predicted targets; ``n_stages=`` or a cost budget ``max_cost=`` picks the prefix.

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
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._to_targets(self._final_logits(X, n_stages, max_cost))

    def staged_predict(self, X):
        """Yield :meth:`predict` after each stage; each student runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            For the first 1, 2, ... stages.
        """
        for F in self._staged_logits(X):
            yield self._to_targets(F)
