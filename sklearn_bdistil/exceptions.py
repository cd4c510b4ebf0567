"""Warnings raised by :class:`~sklearn_bdistil.BDistilClassifier`."""

__all__ = ["EarlyStoppingWarning", "FitInterruptedWarning"]


class EarlyStoppingWarning(UserWarning):
    """The fit ended with fewer stages than ``n_estimators``.

    Raised when no student class reaches the weak-learning edge ``gamma``
    (the paper's failure signature: the students are too small for what is
    left of the teacher), when ``n_iter_no_change`` rounds in a row produced no
    stage that lowers the held-out distillation loss, or when the ensemble
    already matches the teacher.
    """


class FitInterruptedWarning(UserWarning):
    """``fit`` was interrupted (``KeyboardInterrupt``); the completed stages are kept."""
