"""The step of a round: the stage weight ``a_t``.

Regression: ``a* = argmin_a mean (F + a f - g)**2 = <g - F, f> / <f, f>``,
in closed form (:func:`closed_form_step`). Classification:
``a* = argmin_a KD_tau(F + a f ; G)`` is a one-dimensional convex problem
(the loss is convex in the logits, which are affine in ``a``). It is solved by
safeguarded Newton iterations on ``[0, inf)``: no upper bound, since a bounded
grid kept landing on its upper end in early experiments.
"""

import torch

__all__ = ["closed_form_step", "line_search"]


class _Objective:
    """``KD_tau(F + a f ; G)`` and its first two derivatives in ``a``.

    Works in the logits' float32 with float64 reductions, and computes the
    teacher's softmax once: a line search over a million rows then needs a
    few float32 temporaries of the logits' size, not float64 copies.
    """

    def __init__(self, ensemble, student, teacher, temperature):
        # The softmax ignores a shift of a row, so the row-centred f gives the same
        # loss; a part of f constant along each row then contributes exactly 0 to
        # the derivatives instead of float32 rounding noise that can look like a
        # descent direction.
        self.F, self.tau = ensemble, temperature
        self.f = student - student.mean(dim=1, keepdim=True)
        self.log_q = torch.log_softmax(teacher / temperature, dim=1)
        self.neg_entropy = float((self.log_q.exp() * self.log_q).sum(dtype=torch.float64))
        self.n = len(ensemble)

    def _log_p(self, a):
        return torch.log_softmax((self.F + a * self.f) / self.tau, dim=1)

    def loss(self, a):
        """Mean ``tau**2 * KL(q || p_a)``."""
        cross = float((self.log_q.exp() * self._log_p(a)).sum(dtype=torch.float64))
        return self.tau**2 * (self.neg_entropy - cross) / self.n

    def derivatives(self, a):
        p = self._log_p(a).exp_()
        pf = (p * self.f).sum(dim=1)
        qf = (self.log_q.exp() * self.f).sum(dim=1)
        first = self.tau * float((pf - qf).sum(dtype=torch.float64)) / self.n
        pf2 = (p.mul_(self.f).mul_(self.f)).sum(dim=1)
        second = float((pf2 - pf * pf).sum(dtype=torch.float64)) / self.n
        return first, second


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
    objective = _Objective(ensemble, student, teacher, temperature)
    first, _ = objective.derivatives(0.0)
    if not first < 0.0:  # also catches NaN
        return 0.0
    a, current = 0.0, objective.loss(0.0)
    scale = max(float(objective.f.abs().mean()) ** 2, 1e-12)
    for _ in range(max_iter):
        first, second = objective.derivatives(a)
        if abs(first) < 1e-12:
            break
        # Newton where the curvature is informative, else a gradient step
        # scaled to the logits
        step = -first / second if second > 1e-12 else -first / scale
        # Backtrack: the loss is convex, so halving the step always ends
        # below the current point unless we are already at the minimum.
        for _ in range(30):
            candidate = max(a + step, 0.0)
            value = objective.loss(candidate)
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


def closed_form_step(ensemble, student, target):
    """Stage weight minimising the squared error along the student's outputs.

    ``<g - F, f> / <f, f>`` (float64 sums), floored at 0: ``0.0`` when moving
    along ``f`` does not lower the error, or ``f`` is zero.
    """
    f = student.double()
    numerator = float(((target.double() - ensemble.double()) * f).sum())
    denominator = float((f * f).sum())
    if not denominator > 0.0 or not numerator > 0.0:  # also NaN
        return 0.0
    return numerator / denominator
