"""One loss object per task: what a boosting round needs that depends on the task.

The boosting loop (:mod:`sklearn_bdistil._base`) is the same for
classification and regression; a loss object owns what differs, in the manner
of scikit-learn's HistGradientBoosting losses:

- :meth:`~BoostingLoss.residual`: the residual the distribution player weighs
  and its scale (``eta`` is applied to the residual divided by it);
- :meth:`~BoostingLoss.criterion`: the skorch criterion FIND_WL trains on;
- :meth:`~BoostingLoss.step`: the stage weight, by line search or closed form;
- :meth:`~BoostingLoss.evaluate`: the loss that acceptance compares.

The link from raw outputs to predictions (softmax and argmax; the affine map
back to the targets' units) lives with each estimator's prediction methods in
:mod:`sklearn_bdistil._predict`.
"""

import torch

from sklearn_bdistil._game import centred_residual, residual_scale
from sklearn_bdistil._loss import (
    DistillationCriterion,
    SquaredErrorCriterion,
    distillation_loss,
)
from sklearn_bdistil._step import closed_form_step, line_search

__all__ = ["BoostingLoss", "DistillationLoss", "SquaredErrorLoss"]


class BoostingLoss:
    """The task-dependent part of a round; ``target`` is ``G`` (or the labels' mix).

    Parameters
    ----------
    barrier_strength : float
        ``lam`` of the soft log-barrier in the FIND_WL loss.
    barrier_delta : float
        Floor of the barrier's logarithm argument.
    """

    #: How messages and the verbose table name the loss.
    name = "loss"

    def __init__(self, barrier_strength, barrier_delta):
        self.barrier_strength = barrier_strength
        self.barrier_delta = barrier_delta

    def residual(self, target, F):
        """``(R, s)``: the residual the player weighs and its scale (0: nothing left)."""
        raise NotImplementedError

    def criterion(self):
        """``(criterion class, keyword arguments)`` for FIND_WL's skorch net."""
        raise NotImplementedError

    def step(self, F, f, target):
        """The stage weight ``a >= 0`` along the student's outputs ``f``."""
        raise NotImplementedError

    def loss(self, F, target):
        """The mean loss of outputs ``F`` against ``target`` (a torch scalar)."""
        raise NotImplementedError

    def evaluate(self, F, target):
        """:meth:`loss` as a float in float64 (NaN on no rows)."""
        if F.shape[0] == 0:
            return float("nan")
        return float(self.loss(F.double(), target.double()))


class DistillationLoss(BoostingLoss):
    """Classification: ``tau**2 * KL(softmax(G / tau) || softmax(F / tau))``.

    The residual is row-centred (softmax ignores a shift of a row) and scaled
    by the standard deviation of all its entries; the step is a line search.
    """

    name = "distillation loss"

    def __init__(self, temperature, barrier_strength, barrier_delta):
        super().__init__(barrier_strength, barrier_delta)
        self.temperature = temperature

    def residual(self, target, F):
        R = centred_residual(target, F)
        return R, residual_scale(R)

    def criterion(self):
        return DistillationCriterion, {"temperature": self.temperature,
                                       "barrier_strength": self.barrier_strength,
                                       "barrier_delta": self.barrier_delta}

    def step(self, F, f, target):
        return line_search(F, f, target, self.temperature)

    def loss(self, F, target):
        return distillation_loss(F, target, self.temperature)


class SquaredErrorLoss(BoostingLoss):
    """Regression: ``mean_ij (F_ij - g_ij)**2``, in standardised target units.

    The estimator standardises each output (``g = (teacher - mean) / std``)
    before the rounds, so a loss of 1 is the empty ensemble's and the loss is
    comparable across outputs. The player's residual ``g - F`` is divided per
    output by its standard deviation this round, so ``eta`` is dimensionless
    and an output the ensemble already matches gets no weight; the step has a
    closed form.
    """

    name = "squared error"

    def residual(self, target, F):
        R = target - F
        spread = R.std(dim=0, unbiased=False)
        live = spread > 1e-12
        if not bool(live.any()):
            return torch.zeros_like(R), 0.0
        R = torch.where(live, R / torch.where(live, spread, torch.ones_like(spread)),
                        torch.zeros_like(R))
        return R, 1.0

    def criterion(self):
        return SquaredErrorCriterion, {"barrier_strength": self.barrier_strength,
                                       "barrier_delta": self.barrier_delta}

    def step(self, F, f, target):
        return closed_form_step(F, f, target)

    def loss(self, F, target):
        return ((F - target) ** 2).mean()
