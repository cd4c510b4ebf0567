"""The student protocol and the module every built-in factory returns.

A *student factory* is any callable ``factory(n_features_in, n_classes)``
returning a fresh, randomly initialised :class:`torch.nn.Module` that maps a
float32 batch of shape ``(batch, n_features_in)`` to logits of shape
``(batch, n_classes)``. Factories are called once per round, under a seeded
torch generator, so the same ``random_state`` gives the same students.

The built-in factories return a :class:`StudentNet`: a *body* producing
hidden features and a linear *head*, the split that intermediate connections
between students build on.
"""

import numbers

import torch
from sklearn.base import BaseEstimator
from torch import nn

from sklearn_bdistil._modes import eval_mode, seeded

__all__ = ["StudentNet", "StudentFactory", "build_student"]


class _Unflatten(nn.Module):
    """``(batch, prod(shape))`` -> ``(batch, *shape)``: a flattened row back to its layout."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class StudentNet(nn.Module):
    """A body (``x -> features``) followed by a linear head (``features -> logits``).

    Parameters
    ----------
    body : torch.nn.Module
        Maps rows to hidden features.
    head : torch.nn.Linear
        Maps hidden features to logits.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_bdistil.students import StudentNet
    >>> net = StudentNet(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 3))
    >>> net.features(torch.zeros(2, 4)).shape, net(torch.zeros(2, 4)).shape
    (torch.Size([2, 8]), torch.Size([2, 3]))
    """

    def __init__(self, body, head):
        super().__init__()
        self.body = body
        self.head = head

    def features(self, x):
        """Last hidden features of ``x`` (what a connection passes on).

        Parameters
        ----------
        x : torch.Tensor of shape (batch, n_features_in)

        Returns
        -------
        h : torch.Tensor of shape (batch, head.in_features)
        """
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


class StudentFactory(BaseEstimator):
    """Base class of the built-in factories: parameters in, module out.

    Subclasses store their arguments in ``__init__`` (so they print, clone and
    grid-search like scikit-learn estimators) and implement
    ``build(n_features_in, n_classes)``.
    """

    def __call__(self, n_features_in, n_classes):
        return self.build(n_features_in, n_classes)

    def build(self, n_features_in, n_classes):  # pragma: no cover - abstract
        raise NotImplementedError


def _positive_int(name, value):
    """``value`` as an int, if it is an integer >= 1 (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _positive_ints(name, values, allow_empty=False):
    """A tuple of positive ints from a list or tuple (a string is not one)."""
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a tuple of positive integers, got {values!r}.")
    if not values and not allow_empty:
        raise ValueError(f"{name} must not be empty.")
    return tuple(_positive_int(f"each entry of {name}", v) for v in values)


def _conv_arguments(factory):
    """``(n_channels, n_filters, kernel_size, stride)`` of a convolutional factory, checked."""
    return (_positive_int("n_channels", factory.n_channels),
            _positive_ints("n_filters", factory.n_filters),
            _positive_int("kernel_size", factory.kernel_size),
            _positive_int("stride", factory.stride))


def _probability(name, value):
    """``value`` as a float in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def _activation(name):
    activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
    if name not in activations:
        raise ValueError(
            f"activation must be one of {sorted(activations)}, got {name!r}."
        )
    return activations[name]()


def check_factory(factory):
    """Raise ``TypeError`` unless ``factory`` is a callable that is not a module instance."""
    if isinstance(factory, nn.Module) or not callable(factory):
        raise TypeError(
            "Each entry of `students` must be a factory: a callable "
            "factory(n_features_in, n_classes) returning a new torch.nn.Module "
            f"(e.g. MLPStudent(hidden_sizes=(16,))); got {factory!r}. A module class "
            "whose __init__ takes (n_features_in, n_classes) is a factory as it is; "
            "for other arguments use "
            "functools.partial (picklable, unlike a lambda)."
        )


def build_student(factory, n_features_in, n_classes, seed):
    """Call ``factory`` under a seeded generator and check what it returned.

    Raises
    ------
    TypeError
        If the factory is not callable, is itself a module instance, or does
        not return an ``nn.Module``.
    ValueError
        If the module's output on a probe batch does not have shape
        ``(batch, n_classes)``.
    """
    check_factory(factory)
    with seeded(seed):
        module = factory(n_features_in, n_classes)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"Student factory {factory!r} returned {type(module).__name__}, "
            "expected a torch.nn.Module."
        )
    with torch.no_grad(), eval_mode(module):
        probe = torch.zeros(2, n_features_in)
        try:
            out = module(probe)
        except Exception as exc:
            raise ValueError(
                f"Student built by {factory!r} failed on a batch of shape "
                f"(2, {n_features_in}): {exc}"
            ) from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
        raise ValueError(
            f"Student built by {factory!r} must map (batch, {n_features_in}) "
            f"to logits of shape (batch, {n_classes}); got {shape}."
        )
    return module
