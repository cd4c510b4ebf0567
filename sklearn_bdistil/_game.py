"""The distribution player of the boosting game: K+/K- weights and the edge.

Round ``t`` of B-DISTIL is a two-player zero-sum game. The distribution player
puts weight on (row, class, sign) triples where the current ensemble ``F`` is
furthest below (``K+``) or above (``K-``) the teacher's logits ``G``; the
student is the other player. Everything here is a pure function of tensors so
it runs on whatever device the data lives on.
"""

import torch

__all__ = ["centred_residual", "residual_scale", "signed_weights", "edge", "max_edge"]


def centred_residual(teacher_logits, ensemble_logits):
    """Residual ``R = G - F`` with each row centred to mean zero.

    Logits are defined up to a constant per row (softmax, and so the
    distillation loss, ignores it), so the weights must ignore it too: without
    centring, a teacher whose logits carry a row offset (a torch module, a
    multi-class ``decision_function``) would put weight on an offset that no
    student can or needs to reproduce.
    """
    residual = teacher_logits - ensemble_logits
    return residual - residual.mean(dim=1, keepdim=True)


def residual_scale(residual):
    """Spread of the residual, so that ``eta`` is dimensionless.

    Parameters
    ----------
    residual : torch.Tensor of shape (n_rows, n_classes)
        ``G - F``.

    Returns
    -------
    scale : float
        The standard deviation of all entries, or 0.0 when the residual is
        constant (the ensemble already matches the teacher up to a shift).
    """
    scale = float(residual.std(unbiased=False))
    return scale if scale > 1e-12 else 0.0


def signed_weights(residual, eta, scale):
    """Signed weights ``D = K+ - K-`` of the multiplicative-weights player.

    ``K+[i, j] ∝ exp(eta * R[i, j] / s)`` and ``K-[i, j] ∝ exp(-eta * R[i, j] / s)``
    are normalised *jointly*, so ``K+.sum() + K-.sum() == 1`` and every entry of
    ``D`` lies in ``[-1, 1]`` with ``|D|.sum() <= 1``. The normaliser is taken
    in log space (logsumexp), so large residuals or a large ``eta`` never
    overflow.

    Parameters
    ----------
    residual : torch.Tensor of shape (n_rows, n_classes)
        ``G - F``.
    eta : float
        Inverse temperature of the player.
    scale : float
        Spread of the residual (see :func:`residual_scale`); ``0`` gives the
        uniform distribution, whose ``D`` is identically zero.

    Returns
    -------
    D : torch.Tensor of shape (n_rows, n_classes), float32
        Computed in float32: with ``a <= log_z`` every exponent is at most 0,
        so nothing overflows, and weights below float32's range are zero.
    """
    if scale <= 0.0:
        return torch.zeros_like(residual, dtype=torch.float32)
    a = residual.float() * (eta / scale)
    # log of the joint normaliser sum(exp(a)) + sum(exp(-a)), without forming
    # [a, -a]: the transfer set can have millions of rows
    log_z = torch.logaddexp(torch.logsumexp(a.reshape(-1), 0),
                            torch.logsumexp(-a.reshape(-1), 0))
    k_plus, k_minus = torch.exp(a - log_z), torch.exp(-a - log_z)
    # renormalise: at extreme magnitudes float32 loses log_z's last digits
    total = k_plus.sum(dtype=torch.float64) + k_minus.sum(dtype=torch.float64)
    return (k_plus - k_minus) / float(total)


def edge(weights, student_logits):
    """Weak-learning edge ``sum_ij D_ij * tanh(f_ij)``, a number in ``[-1, 1]``.

    Parameters
    ----------
    weights : torch.Tensor of shape (n_rows, n_classes)
        Signed weights ``D`` from :func:`signed_weights`.
    student_logits : torch.Tensor of shape (n_rows, n_classes)
        The candidate student's raw outputs ``f(x_i)``.

    Returns
    -------
    edge : float
    """
    return float((weights * torch.tanh(student_logits)).sum(dtype=torch.float64))


def max_edge(weights):
    """The edge no student can reach: ``sum_ij |D_ij|`` (``tanh`` never reaches 1).

    ``K+`` and ``K-`` overlap, so this is below 1, and it grows with ``eta``:
    a ``gamma`` at or above it cannot be met by any student, however large.
    """
    return float(weights.abs().sum(dtype=torch.float64))
