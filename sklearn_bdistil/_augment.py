"""Enlarging the transfer set: new input rows that the teacher labels.

Distillation needs inputs, not labels: the teacher labels any row, so the
transfer set can be enlarged with rows near the data (mixup of two rows,
jittered rows, or the user's own transform, e.g. time-warped sensor windows).
Only the training part of the transfer set is enlarged; the held-out rows that
decide whether a stage is kept stay as given.
"""

import numpy as np

__all__ = ["AUGMENTATIONS", "augment_rows"]

#: Built-in augmentations.
AUGMENTATIONS = ("mixup", "jitter")

#: ``lam ~ Beta(MIXUP_ALPHA, MIXUP_ALPHA)`` in ``lam * x_i + (1 - lam) * x_j``.
MIXUP_ALPHA = 0.4

#: Jitter noise: this fraction of each feature's standard deviation.
JITTER_SCALE = 0.1


def mixup(X, rng):
    """``lam * x_i + (1 - lam) * x_j``, ``j`` a random row, ``lam ~ Beta(0.4, 0.4)``."""
    lam = rng.beta(MIXUP_ALPHA, MIXUP_ALPHA, size=(len(X), 1)).astype(X.dtype)
    return lam * X + (1 - lam) * X[rng.permutation(len(X))]


def jitter(X, rng):
    """``x + e``, ``e ~ N(0, (0.1 std_feature)^2)``."""
    std = X.std(axis=0, keepdims=True)
    return X + (JITTER_SCALE * std * rng.standard_normal(X.shape)).astype(X.dtype)


_BUILT_IN = {"mixup": mixup, "jitter": jitter}


def augment_rows(X, augmentation, copies, seed):
    """``copies`` transformed copies of the rows of ``X``, stacked; ``(0, d)`` if none.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    augmentation : {"mixup", "jitter"} or callable
        A callable is called as ``augmentation(X, rng)`` with ``rng`` a
        :class:`numpy.random.Generator` and must return an array of the shape
        of ``X`` (one new row per row).
    copies : int
    seed : int or sequence of int
        Seeds ``rng`` (:func:`numpy.random.default_rng`): the same seed gives
        the same rows.
    """
    X = np.asarray(X, dtype=np.float32)
    if copies == 0 or augmentation is None or len(X) == 0:
        return X[:0]
    transform = _BUILT_IN[augmentation] if isinstance(augmentation, str) else augmentation
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(copies):
        new = transform(X, rng)
        try:
            new = np.asarray(new, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"augmentation {augmentation!r} must return an array of numbers; "
                f"got {type(new).__name__}."
            ) from exc
        if new.shape != X.shape:
            raise ValueError(
                f"augmentation {augmentation!r} returned shape {new.shape}; expected the "
                f"shape of its input {X.shape} (one new row per row)."
            )
        if not np.isfinite(new).all():
            raise ValueError(f"augmentation {augmentation!r} returned NaN or infinity.")
        parts.append(new)
    return np.concatenate(parts)
