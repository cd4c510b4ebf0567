"""Student factories: callables ``factory(n_features_in, n_classes) -> nn.Module``."""

from sklearn_bdistil.students._base import StudentFactory, StudentNet
from sklearn_bdistil.students._conv1d import Conv1dStudent
from sklearn_bdistil.students._mlp import MLPStudent

__all__ = ["Conv1dStudent", "MLPStudent", "StudentFactory", "StudentNet"]
