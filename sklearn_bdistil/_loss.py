"""The FIND_WL objectives: the task's loss plus a soft log-barrier.

A student ``f`` of round ``t`` is trained on

    L(F_{t-1} + f ; G) + lam * B(f ; D)

where ``L`` is, for classification, ``KD_tau``, the temperature-``tau``
Kullback-Leibler divergence from the teacher's softmax to the ensemble's
(scaled by ``tau**2`` as in Hinton et al., so gradients keep their size across
temperatures), and for regression the squared error in standardised units;
``B`` is a soft log-barrier on the weak-learning condition of
:mod:`sklearn_bdistil._game`.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DistillationCriterion", "SquaredErrorCriterion", "barrier_loss", "distillation_loss",
           "pack_targets"]


def distillation_loss(logits, teacher_logits, temperature=1.0, reduction="mean"):
    """``tau**2 * KL(softmax(G / tau) || softmax(F / tau))`` per row.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_rows, n_classes)
        Ensemble logits ``F``.
    teacher_logits : torch.Tensor of shape (n_rows, n_classes)
        Teacher logits ``G``.
    temperature : float, default=1.0
    reduction : {"mean", "none"}, default="mean"

    Returns
    -------
    loss : torch.Tensor
        A scalar, or one value per row with ``reduction="none"``.
    """
    log_q = F.log_softmax(teacher_logits / temperature, dim=1)
    log_p = F.log_softmax(logits / temperature, dim=1)
    per_row = (log_q.exp() * (log_q - log_p)).sum(dim=1) * temperature**2
    return per_row.mean() if reduction == "mean" else per_row


def barrier_loss(student_logits, weights, delta=0.1):
    """Soft log-barrier ``-sum_ij w_ij log(1 + sign(D_ij) tanh(f_ij) (1 - delta))``.

    ``w = |D| / |D|.sum()`` over the rows given, so the barrier is a weighted
    average whose size does not depend on the round or the batch. It is
    smallest where the student agrees in sign with the residual on the
    entries the distribution player weighs, and rises steeply (to at most
    ``-log(delta)`` per unit of weight) as the student pushes against it.

    Parameters
    ----------
    student_logits : torch.Tensor of shape (n_rows, n_classes)
    weights : torch.Tensor of shape (n_rows, n_classes)
        Signed weights ``D``.
    delta : float in (0, 1), default=0.1
        Keeps the logarithm's argument at least ``delta``.

    Returns
    -------
    loss : torch.Tensor, scalar
    """
    mass = weights.abs()
    # no branch on the total: reading it on the host would wait for the GPU
    # every minibatch. All-zero weights give w = 0, so a zero barrier.
    w = mass / mass.sum().clamp_min(torch.finfo(mass.dtype).tiny)
    margin = torch.sign(weights) * torch.tanh(student_logits) * (1.0 - delta)
    return -(w * torch.log1p(margin)).sum()


def pack_targets(teacher_logits, ensemble_logits, weights):
    """Stack ``[G | F_{t-1} | D]`` column-wise so the rows travel as skorch's ``y``."""
    return torch.cat([teacher_logits, ensemble_logits, weights], dim=1)


class _BarrierCriterion(nn.Module):
    """``task_loss(F + f, target) + lam * B(f; D)`` on :func:`pack_targets`' rows.

    Subclasses define ``task_loss``; ``barrier_strength=0`` trains on it alone.
    """

    def __init__(self, barrier_strength=0.1, barrier_delta=0.1):
        super().__init__()
        self.barrier_strength = barrier_strength
        self.barrier_delta = barrier_delta

    def task_loss(self, outputs, target):
        raise NotImplementedError

    def forward(self, y_pred, y_true):
        target, ensemble, weights = torch.chunk(y_true, 3, dim=1)
        loss = self.task_loss(ensemble + y_pred, target)
        if self.barrier_strength > 0:
            loss = loss + self.barrier_strength * barrier_loss(
                y_pred, weights, self.barrier_delta
            )
        return loss


class DistillationCriterion(_BarrierCriterion):
    """skorch criterion for FIND_WL; ``y_true`` is :func:`pack_targets`' output.

    Parameters
    ----------
    temperature : float, default=1.0
        Distillation temperature ``tau``.
    barrier_strength : float, default=0.1
        ``lam``; ``0`` trains on the distillation loss alone.
    barrier_delta : float, default=0.1
        See :func:`barrier_loss`.
    """

    def __init__(self, temperature=1.0, barrier_strength=0.1, barrier_delta=0.1):
        super().__init__(barrier_strength, barrier_delta)
        self.temperature = temperature

    def task_loss(self, outputs, target):
        return distillation_loss(outputs, target, self.temperature)


class SquaredErrorCriterion(_BarrierCriterion):
    """skorch criterion for a regression round: ``mean (F + f - g)**2 + lam * B``.

    ``y_true`` is :func:`pack_targets`' output, in standardised target units.

    Parameters
    ----------
    barrier_strength : float, default=0.1
    barrier_delta : float, default=0.1
        See :func:`barrier_loss`.
    """

    def task_loss(self, outputs, target):
        return ((outputs - target) ** 2).mean()
