"""1-D convolutional students for windows of multichannel sensor data."""

from torch import nn

from sklearn_bdistil.students._base import (
    Standardize,
    StudentFactory,
    StudentNet,
    _activation,
    _conv_arguments,
    _flag,
    _Unflatten,
)

__all__ = ["Conv1dStudent"]


class Conv1dStudent(StudentFactory):
    """Factory of small 1-D CNN students for flattened sensor windows.

    Rows are windows of ``n_channels`` signals flattened channel-major: the
    first ``width`` columns are channel 0, the next ``width`` channel 1, and
    so on (``X.reshape(n, n_channels, width)`` recovers the window).

    Parameters
    ----------
    n_channels : int
        Number of signals per window.
    n_filters : tuple of int, default=(8,)
        Output channels of each convolution.
    kernel_size : int, default=5
    stride : int, default=2
    activation : {"relu", "tanh", "gelu"}, default="relu"
    standardize : bool, default=True
        Scale each input channel to zero mean and unit variance with the
        statistics of the fit's training rows (pooled over the channel's
        time steps), inside the module, so prediction and every export use them.
        ``False``: the rows as given.

    Examples
    --------
    >>> import torch
    >>> from sklearn_bdistil.students import Conv1dStudent
    >>> net = Conv1dStudent(n_channels=3)(n_features_in=3 * 20, n_classes=4)
    >>> net(torch.zeros(2, 60)).shape
    torch.Size([2, 4])
    """

    _shown = ("n_channels", "n_filters")

    def __init__(self, n_channels, n_filters=(8,), kernel_size=5, stride=2,
                 activation="relu", standardize=True):
        self.n_channels = n_channels
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.activation = activation
        self.standardize = standardize

    def build(self, n_features_in, n_classes):
        c, filters, kernel, stride = _conv_arguments(self)
        if n_features_in % c:
            raise ValueError(
                f"Conv1dStudent(n_channels={self.n_channels}) needs n_features_in "
                f"divisible by n_channels; got n_features_in={n_features_in}."
            )
        width = n_features_in // c
        layers = [_Unflatten(c, width)]
        for k, f in enumerate(filters):
            if width < kernel:  # no padding: each convolution needs a kernel's width
                where = "" if k == 0 else f" after {k} convolution(s)"
                raise ValueError(
                    f"Window width {width}{where} is shorter than kernel_size={kernel}."
                )
            layers += [nn.Conv1d(c, f, kernel, stride=stride), _activation(self.activation)]
            c, width = f, (width - kernel) // stride + 1
        layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
        scaling = (Standardize(n_features_in, n_groups=self.n_channels)
                   if _flag("standardize", self.standardize) else None)
        return StudentNet(nn.Sequential(*layers), nn.Linear(c, n_classes), scaling)
