"""One module per stage, for runtimes that run (and stop between) stages.

``to_onnx`` and ``to_executorch`` write the whole prefix as one graph. A
device that stops between stages, as ``bdistil_early_exit`` in ``to_c`` does,
runs one stage at a time and carries the connection state from one to the
next: :func:`stage_modules` cuts a fitted ensemble into those stages.
"""

import numpy as np
import torch
from torch import nn

from sklearn_bdistil.export._onnx import to_torch

__all__ = ["StageModule", "check_rows", "reference_logits", "stage_modules"]


class StageModule(nn.Module):
    """Stage ``k`` of an ensemble: ``(x[, state]) -> (a_k f_k(x)[, new state])``.

    The cumulative logits are the sum of the stages' outputs; the state is the
    hidden features that the next stage's connection reads (``[h | c]`` after
    an LSTM connection).

    Parameters
    ----------
    student : torch.nn.Module
    connection : torch.nn.Module
        The stage's connection (the ensemble's placeholder where it has none).
    weight : float
        The stage weight ``a_k``.
    takes_state, gives_state : bool
        Whether ``forward`` takes the previous stage's state, and returns its
        own for the next stage.
    connected : bool
        Whether the ensemble carries state at all; unconnected stages run the
        student as a whole.
    """

    def __init__(self, student, connection, weight, *, takes_state, gives_state, connected):
        super().__init__()
        self.student = student
        self.connection = connection
        self.register_buffer("weight", torch.tensor(float(weight), dtype=torch.float32))
        self.takes_state = takes_state
        self.gives_state = gives_state
        self.connected = connected

    def forward(self, x, state=None):
        if not self.connected:
            return (self.weight * self.student(x),)
        z = self.student.features(x)
        if state is None:
            new_state, logits = z, self.student.head(z)
        else:
            new_state = self.connection(z, state)
            logits = self.student.head(self.connection.features(new_state))
        step = self.weight * logits
        return (step, new_state) if self.gives_state else (step,)


def stage_modules(estimator, n_stages=None):
    """The first ``n_stages`` stages of a fitted ensemble, each its own module.

    Returns
    -------
    stages : list of StageModule
        Eval mode, CPU, float32 copies; stage ``k`` takes the state of stage
        ``k - 1`` where the ensemble is connected.
    """
    ensemble = to_torch(estimator, n_stages)
    n = len(ensemble.students)
    connected = bool(ensemble.connected)
    return [StageModule(student, connection, ensemble.weights[k],
                        takes_state=connected and k > 0,
                        gives_state=connected and k < n - 1, connected=connected).eval()
            for k, (student, connection) in enumerate(zip(ensemble.students,
                                                          ensemble.connections, strict=True))]


def check_rows(estimator, n_rows, random_state=0):
    """``n_rows`` float32 rows to check an export on, at the scale of the data.

    Drawn from a normal distribution with the first student's input statistics
    where it standardises its inputs (a student's ``scaling`` layer), else a
    standard normal one: an export's arithmetic is checked, not its accuracy.
    """
    rng = np.random.default_rng(random_state)
    rows = rng.standard_normal((n_rows, estimator.n_features_in_))
    scaling = getattr(estimator.estimators_[0], "scaling", None)
    mean, inv_std = getattr(scaling, "mean", None), getattr(scaling, "inv_std", None)
    if isinstance(mean, torch.Tensor) and isinstance(inv_std, torch.Tensor):
        mean = mean.detach().cpu().double().numpy()
        std = 1.0 / np.maximum(inv_std.detach().cpu().double().numpy(), 1e-12)
        if mean.shape == (estimator.n_features_in_,):
            rows = mean + rows * std
    return rows.astype(np.float32)


def reference_logits(estimator, X, n_stages):
    """The ensemble's cumulative logits ``(n_stages, n_rows, n_classes)`` on ``X``.

    What ``staged_decision_function`` returns, before two classes are reduced
    to ``F_1 - F_0``: every export is checked against it. For a regressor,
    ``staged_predict``'s predictions ``(n_stages, n_rows, n_outputs)``, which
    its exports return.
    """
    if not hasattr(estimator, "classes_"):
        return np.stack([p.reshape(len(X), -1) for p in estimator.staged_predict(X)][:n_stages])
    return np.stack(list(estimator._staged_logits(X))[:n_stages])


def max_difference(got, expected):
    """Largest absolute difference, relative to the logits' scale where it exceeds 1."""
    scale = max(1.0, float(np.abs(expected).max()))
    return float(np.abs(np.asarray(got, dtype=np.float64) - expected).max()) / scale
