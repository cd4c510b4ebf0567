"""Progressive ensemble distillation (B-DISTIL) for scikit-learn and PyTorch."""

from sklearn_bdistil._classifier import BDistilClassifier
from sklearn_bdistil._predict import early_exit_curve
from sklearn_bdistil.exceptions import EarlyStoppingWarning, FitInterruptedWarning
from sklearn_bdistil.students import Conv1dStudent, Conv2dStudent, MLPStudent

__all__ = [
    "BDistilClassifier",
    "Conv1dStudent",
    "Conv2dStudent",
    "EarlyStoppingWarning",
    "FitInterruptedWarning",
    "MLPStudent",
    "early_exit_curve",
]
__version__ = "0.1.0"
