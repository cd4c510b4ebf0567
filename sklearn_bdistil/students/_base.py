"""The student protocol and the module every built-in factory returns.

A *student factory* is any callable ``factory(n_features_in, n_classes)``
returning a fresh, randomly initialised :class:`torch.nn.Module` that maps a
float32 batch of shape ``(batch, n_features_in)`` to logits of shape
``(batch, n_classes)``. Factories are called once per round, under a seeded
torch generator, so the same ``random_state`` gives the same students.

The built-in factories return a :class:`StudentNet`: a *body* producing
hidden features and a linear *head*, the split that intermediate connections
between students build on, behind a :class:`Standardize` layer that scales
the inputs with statistics of the transfer set (set by the fit, stored in the
module, so every export carries them).
"""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from sklearn_bdistil._modes import eval_mode, seeded

__all__ = ["Standardize", "StudentNet", "StudentFactory", "build_student",
           "fit_input_scaling", "input_statistics", "scaling_hint"]


class _Unflatten(nn.Module):
    """``(batch, prod(shape))`` -> ``(batch, *shape)``: a flattened row back to its layout."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


@torch.no_grad()
def input_statistics(X, n_groups=None, batch_size=65536):
    """Mean and ``1 / std`` of each column of ``X`` (a 2-D tensor), as float32 tensors.

    ``n_groups``: pool the statistics over ``n_groups`` contiguous groups of
    columns (the channels of a channel-major flattened window or image),
    each column getting its group's values. Accumulated in float64 batch by
    batch, so a large transfer set is never copied whole. A constant column
    (or group) gets ``1 / std = 1``: it is centred, not blown up.
    """
    n, d = X.shape
    if n_groups is not None and d % n_groups:
        raise ValueError(f"{d} columns do not split into {n_groups} equal groups.")
    total = torch.zeros(d, dtype=torch.float64, device=X.device)
    square = torch.zeros(d, dtype=torch.float64, device=X.device)
    for start in range(0, n, batch_size):
        rows = X[start:start + batch_size].double()
        total += rows.sum(dim=0)
        square += (rows * rows).sum(dim=0)
    count = torch.tensor(float(max(n, 1)), dtype=torch.float64, device=X.device)
    if n_groups is not None:  # pool each group's columns
        width = d // n_groups
        total = total.reshape(n_groups, width).sum(dim=1).repeat_interleave(width)
        square = square.reshape(n_groups, width).sum(dim=1).repeat_interleave(width)
        count = count * width
    mean = total / count
    var = (square / count - mean * mean).clamp_min(0.0)
    std = var.sqrt()
    tiny = std <= 1e-7 * mean.abs().clamp_min(1.0)
    inv = torch.where(tiny, torch.ones_like(std), 1.0 / torch.where(tiny, 1.0, std))
    return mean.float(), inv.float()


class Standardize(nn.Module):
    """``x -> (x - mean) * inv_std``: the inputs scaled with the transfer set's statistics.

    Built as the identity (``mean = 0``, ``inv_std = 1``); the fit sets the
    statistics of its training rows (:func:`fit_input_scaling`) before the
    student trains. Both are buffers: saved, moved and exported with the
    module. 2 element-wise FLOPs per feature, not counted (as activations).

    Parameters
    ----------
    n_features : int
    n_groups : int or None, default=None
        ``None``: statistics per column. An int: pooled per contiguous group of
        columns (per channel of a flattened window or image).
    """

    def __init__(self, n_features, n_groups=None):
        super().__init__()
        self.n_groups = n_groups
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("inv_std", torch.ones(n_features))

    def set_statistics(self, mean, inv_std):
        """Copy ``mean`` and ``inv_std`` (tensors of shape ``(n_features,)``) in."""
        with torch.no_grad():
            self.mean.copy_(mean)
            self.inv_std.copy_(inv_std)

    def forward(self, x):
        return (x - self.mean) * self.inv_std

    def extra_repr(self):
        return f"{self.mean.shape[0]}" + ("" if self.n_groups is None
                                           else f", n_groups={self.n_groups}")


def fit_input_scaling(module, X, cache=None):
    """Set every :class:`Standardize` layer of ``module`` from the rows ``X``.

    ``cache``: a dict reused across calls on the same ``X`` (one pass over the
    rows per pooling, not per student). Returns ``module``.
    """
    cache = {} if cache is None else cache
    for layer in module.modules():
        if isinstance(layer, Standardize):
            if layer.n_groups not in cache:
                cache[layer.n_groups] = input_statistics(X, layer.n_groups)
            layer.set_statistics(*(t.to(layer.mean.device) for t in cache[layer.n_groups]))
    return module


def _standardizes(factory):
    """Whether the modules ``factory`` builds scale their own inputs."""
    return bool(getattr(factory, "standardize", False))


def scaling_hint(factories, X):
    """A sentence for a failed fit when ``X`` is far from unit scale and a student
    on the ladder does not standardise its inputs ("" otherwise)."""
    if all(_standardizes(f) for f in factories) or not len(X):
        return ""
    std = X.std(axis=0)
    far = bool((std > 10).any() or ((std > 0) & (std < 0.1)).any()
               or (abs(X.mean(axis=0)) > 10 * (std + 1)).any())
    if not far:
        return ""
    return ("; the inputs are far from unit scale (column std from "
            f"{std.min():.3g} to {std.max():.3g}) and not every student standardises "
            "them: scale X (a StandardScaler in front, and in the teacher) or use the "
            "built-in students with standardize=True")


class StudentNet(nn.Module):
    """Inputs scaled, a body (``x -> features``), a linear head (``features -> logits``).

    Parameters
    ----------
    body : torch.nn.Module
        Maps rows to hidden features.
    head : torch.nn.Linear
        Maps hidden features to logits.
    scaling : Standardize or None, default=None
        Applied to the rows before the body.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_bdistil.students import StudentNet
    >>> net = StudentNet(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 3))
    >>> net.features(torch.zeros(2, 4)).shape, net(torch.zeros(2, 4)).shape
    (torch.Size([2, 8]), torch.Size([2, 3]))
    """

    def __init__(self, body, head, scaling=None):
        super().__init__()
        self.scaling = scaling
        self.body = body
        self.head = head

    def __setstate__(self, state):  # a module pickled before ``scaling`` existed
        super().__setstate__(state)
        if "scaling" not in self._modules:
            self._modules["scaling"] = None

    def features(self, x):
        """Last hidden features of ``x`` (what a connection passes on).

        Parameters
        ----------
        x : torch.Tensor of shape (batch, n_features_in)

        Returns
        -------
        h : torch.Tensor of shape (batch, head.in_features)
        """
        if self.scaling is not None:
            x = self.scaling(x)
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


class StudentFactory(BaseEstimator):
    """Base class of the built-in factories: parameters in, module out.

    Subclasses store their arguments in ``__init__`` (so they print, clone and
    grid-search like scikit-learn estimators) and implement
    ``build(n_features_in, n_classes)``. The parameters named in ``_shown``
    are printed even at their default, so a repr tells the student's size
    (``MLPStudent(hidden_sizes=(16,))``, not ``MLPStudent()``).
    """

    _shown = ()

    def __repr__(self, N_CHAR_MAX=700):
        import inspect

        params = self.get_params(deep=False)
        defaults = {name: p.default for name, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        shown = [f"{name}={params[name]!r}" for name in defaults if name in params  # in order
                 and (name in self._shown or repr(params[name]) != repr(defaults[name]))]
        return f"{type(self).__name__}({', '.join(shown)})"

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


def _flag(name, value):
    """``value`` as a bool, if it is one (numpy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


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
