"""Multi-layer perceptron students for tabular rows."""

from torch import nn

from sklearn_bdistil.students._base import (
    Standardize,
    StudentFactory,
    StudentNet,
    _activation,
    _flag,
    _positive_ints,
    _probability,
)

__all__ = ["MLPStudent"]


class MLPStudent(StudentFactory):
    """Factory of small fully connected students.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(16,)
        Widths of the hidden layers; ``()`` gives a linear (softmax
        regression) student.
    activation : {"relu", "tanh", "gelu"}, default="relu"
    dropout : float in [0, 1), default=0.0
        Dropout after each hidden activation.
    standardize : bool, default=True
        Scale each input feature to zero mean and unit variance with the
        statistics of the fit's training rows, inside the module (so
        prediction and every export use them; raw, unscaled ``X`` trains as
        well as standardised ``X``). ``False``: the rows as given.

    Examples
    --------
    >>> from sklearn_bdistil.students import MLPStudent
    >>> net = MLPStudent(hidden_sizes=(8,))(n_features_in=4, n_classes=3)
    >>> import torch
    >>> net(torch.zeros(5, 4)).shape
    torch.Size([5, 3])
    """

    _shown = ("hidden_sizes",)

    def __init__(self, hidden_sizes=(16,), activation="relu", dropout=0.0, standardize=True):
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.dropout = dropout
        self.standardize = standardize

    def build(self, n_features_in, n_classes):
        sizes = _positive_ints("hidden_sizes", self.hidden_sizes, allow_empty=True)
        dropout = _probability("dropout", self.dropout)
        scaling = Standardize(n_features_in) if _flag("standardize", self.standardize) else None
        layers, width = [], n_features_in
        for h in sizes:
            layers += [nn.Linear(width, h), _activation(self.activation)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        body = nn.Sequential(*layers) if layers else nn.Identity()
        return StudentNet(body, nn.Linear(width, n_classes), scaling)
