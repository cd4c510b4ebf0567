"""Student factories: callables ``factory(n_features_in, n_classes) -> nn.Module``."""

from sklearn_bdistil.students._base import Standardize, StudentFactory, StudentNet
from sklearn_bdistil.students._connections import CONNECTIONS
from sklearn_bdistil.students._conv1d import Conv1dStudent
from sklearn_bdistil.students._conv2d import Conv2dStudent
from sklearn_bdistil.students._mlp import MLPStudent

__all__ = ["CONNECTIONS", "Conv1dStudent", "Conv2dStudent", "MLPStudent", "Standardize",
           "StudentFactory", "StudentNet"]
