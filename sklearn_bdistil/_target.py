"""What every round distils toward: the teacher, optionally mixed with the labels.

Distillation alone is capped by the teacher. When ``fit`` gets labels, the
target distribution of row ``i`` is

    q_i = (1 - w) softmax(G_i / tau) + w onehot(y_i)

with ``w = label_weight``, floored at ``PROB_FLOOR`` and renormalised, and it
is handed to the boosting game as *target logits* ``T_i = tau * log(q_i)``
(so that ``softmax(T_i / tau) = q_i``). Everything downstream (the residual of
the distribution player, the edge, the barrier, the FIND_WL loss, the line
search and acceptance) reads ``T`` where it read ``G``: labels enter all of
them consistently. Rows without a label (augmented copies) keep the teacher
alone, ``T_i = G_i``.
"""

import numpy as np

from sklearn_bdistil._predict import _softmax

__all__ = ["PROB_FLOOR", "label_codes", "target_logits"]

#: Smallest target probability of a class once labels are mixed in: ``log(0)``
#: of a one-hot target would be an infinite logit no student can match.
PROB_FLOOR = 1e-4


def label_codes(y, classes):
    """Column index of each label of ``y`` in ``classes`` (the teacher's output order)."""
    index = {c: k for k, c in enumerate(np.asarray(classes).tolist())}
    return np.asarray([index[v] for v in np.asarray(y).tolist()], dtype=np.intp)


def target_logits(G, codes, label_weight, temperature=1.0):
    """Target logits ``T`` for teacher logits ``G`` and label columns ``codes``.

    Parameters
    ----------
    G : ndarray of shape (n_rows, n_classes)
    codes : ndarray of shape (n_rows,) of int, or None
        Column of each row's label; ``None`` (no labels) returns ``G``.
    label_weight : float in [0, 1]
        ``w`` above; ``0`` returns ``G`` unchanged.
    temperature : float, default=1.0

    Returns
    -------
    T : ndarray of shape (n_rows, n_classes), float32
    """
    if codes is None or label_weight == 0:
        return G
    q = (1.0 - label_weight) * _softmax(np.asarray(G, dtype=np.float64) / temperature)
    q[np.arange(len(q)), codes] += label_weight
    q = np.maximum(q, PROB_FLOOR)
    q /= q.sum(axis=1, keepdims=True)
    log_q = np.log(q)
    return (temperature * (log_q - log_q.mean(axis=1, keepdims=True))).astype(np.float32)
