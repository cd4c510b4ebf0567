"""Progressive ensemble distillation (B-DISTIL) for scikit-learn and PyTorch."""

from sklearn_bdistil._classifier import BDistilClassifier
from sklearn_bdistil._early_exit import early_exit_curve
from sklearn_bdistil._regressor import BDistilRegressor
from sklearn_bdistil.exceptions import EarlyStoppingWarning, FitInterruptedWarning
from sklearn_bdistil.students import Conv1dStudent, Conv2dStudent, MLPStudent

__all__ = [
    "BDistilClassifier",
    "BDistilRegressor",
    "Conv1dStudent",
    "Conv2dStudent",
    "EarlyStoppingWarning",
    "FitInterruptedWarning",
    "MLPStudent",
    "early_exit_curve",
]
__version__ = "0.1.0"
