"""The step of a round: a line search for the stage weight ``a_t``.

``a* = argmin_a KD_tau(F + a f ; G)`` is a one-dimensional convex problem
(the loss is convex in the logits, which are affine in ``a``). It is solved by
safeguarded Newton iterations on ``[0, inf)``: no upper bound, since a bounded
grid kept landing on its upper end in early experiments.
"""

import torch

from sklearn_bdistil._loss import distillation_loss

__all__ = ["line_search"]


def _derivatives(ensemble, student, teacher, a, temperature):
    """First and second derivative of the mean KD loss in ``a``."""
    p = torch.softmax((ensemble + a * student) / temperature, dim=1)
    q = torch.softmax(teacher / temperature, dim=1)
    first = temperature * ((p - q) * student).sum(dim=1).mean()
    pf = (p * student).sum(dim=1)
    second = ((p * student**2).sum(dim=1) - pf**2).mean()
    return float(first), float(second)


def line_search(ensemble, student, teacher, temperature=1.0, max_iter=50, tol=1e-6):
    """Stage weight minimising the distillation loss along the student's output.

    Parameters
    ----------
    ensemble : torch.Tensor of shape (n_rows, n_classes)
        Current ensemble logits ``F_{t-1}``.
    student : torch.Tensor of shape (n_rows, n_classes)
        The new student's logits ``f_t``.
    teacher : torch.Tensor of shape (n_rows, n_classes)
        Teacher logits ``G``.
    temperature : float, default=1.0
    max_iter : int, default=50
    tol : float, default=1e-6
        Stop when a Newton step changes ``a`` by less than ``tol * max(1, a)``.

    Returns
    -------
    a : float
        The minimiser, ``>= 0``; ``0.0`` when moving along ``f`` does not lower
        the loss at all.
    """
    ensemble, student, teacher = (t.double() for t in (ensemble, student, teacher))

    def loss(a):
        return float(distillation_loss(ensemble + a * student, teacher, temperature))

    first, _ = _derivatives(ensemble, student, teacher, 0.0, temperature)
    if not first < 0.0:  # also catches NaN
        return 0.0
    a, current = 0.0, loss(0.0)
    for _ in range(max_iter):
        first, second = _derivatives(ensemble, student, teacher, a, temperature)
        if abs(first) < 1e-12:
            break
        if second > 1e-12:
            step = -first / second
        else:  # flat curvature: move by the gradient, scaled to the logits
            step = -first / max(float(student.abs().mean()) ** 2, 1e-12)
        # Backtrack: the loss is convex, so halving the step always ends
        # below the current point unless we are already at the minimum.
        for _ in range(30):
            candidate = max(a + step, 0.0)
            value = loss(candidate)
            if value <= current:
                break
            step /= 2.0
        else:
            break
        change = abs(candidate - a)
        a, current = candidate, value
        if change <= tol * max(1.0, a):
            break
    return a
