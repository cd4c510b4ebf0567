"""Small 2-D convolutional students for image-like rows."""

import math

from torch import nn

from sklearn_bdistil.students._base import (
    Standardize,
    StudentFactory,
    StudentNet,
    _activation,
    _conv_arguments,
    _flag,
    _positive_int,
    _Unflatten,
)

__all__ = ["Conv2dStudent"]


class Conv2dStudent(StudentFactory):
    """Factory of small 2-D CNN students for images flattened to rows.

    Rows are images of ``n_channels`` planes flattened channel-major:
    ``X.reshape(n, n_channels, height, width)`` recovers them (e.g. 8x8
    ``load_digits`` rows with ``n_channels=1``).

    Parameters
    ----------
    n_channels : int, default=1
    height : int, default=None
        Image height; ``None`` means square images.
    n_filters : tuple of int, default=(8,)
        Output channels of each convolution.
    kernel_size : int, default=3
    stride : int, default=2
    activation : {"relu", "tanh", "gelu"}, default="relu"
    standardize : bool, default=True
        Scale each input channel to zero mean and unit variance with the
        statistics of the fit's training rows (pooled over the channel's
        pixels), inside the module, so prediction and every export use them.
        ``False``: the rows as given.

    Examples
    --------
    >>> import torch
    >>> from sklearn_bdistil.students import Conv2dStudent
    >>> net = Conv2dStudent(n_filters=(4, 8))(n_features_in=64, n_classes=10)
    >>> net(torch.zeros(3, 64)).shape
    torch.Size([3, 10])
    """

    _shown = ("n_channels", "n_filters")

    def __init__(self, n_channels=1, height=None, n_filters=(8,), kernel_size=3, stride=2,
                 activation="relu", standardize=True):
        self.n_channels = n_channels
        self.height = height
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.activation = activation
        self.standardize = standardize

    def build(self, n_features_in, n_classes):
        c, filters, kernel, stride = _conv_arguments(self)
        pixels = n_features_in // c
        height = (_positive_int("height", self.height) if self.height is not None
                  else math.isqrt(pixels))
        square_ok = self.height is not None or height * height == pixels
        if pixels * c != n_features_in or not height or pixels % height or not square_ok:
            raise ValueError(
                f"Conv2dStudent(n_channels={self.n_channels}, height={self.height}) cannot "
                f"lay out {n_features_in} features as n_channels x height x width images."
            )
        width = pixels // height
        if min(height, width) < kernel:
            raise ValueError(f"Images of {height}x{width} are smaller than "
                             f"kernel_size={kernel}.")
        layers = [_Unflatten(c, height, width)]
        for f in filters:
            layers += [nn.Conv2d(c, f, kernel, stride=stride, padding=kernel // 2),
                       _activation(self.activation)]
            c = f
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        scaling = (Standardize(n_features_in, n_groups=self.n_channels)
                   if _flag("standardize", self.standardize) else None)
        return StudentNet(nn.Sequential(*layers), nn.Linear(c, n_classes), scaling)
