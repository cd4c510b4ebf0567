"""The reference to beat: the same students trained on the labels alone, each on its own.

A plain torch loop (Adam, shuffled minibatches, tensors in memory), used by the
demo to print its label-trained column and by the benchmarks' label-only and
gradient-boosted-nets baselines.
"""

import numpy as np
import torch
from torch.nn import functional as F

from sklearn_bdistil._find_wl import set_epoch_lr
from sklearn_bdistil._inference import forward_in_batches
from sklearn_bdistil.students._base import build_student, fit_input_scaling

__all__ = ["label_trained_logits", "module_logits", "train_plain"]


def train_plain(module, X, target, loss, *, epochs, batch_size, lr, seed, lr_schedule,
                optimizer=None, weight_decay=0.0):
    """Train ``module`` on ``loss(module(X), target)``; returns it in eval mode.

    ``lr_schedule`` moves the learning rate over the epochs as FIND_WL's does
    (:func:`~sklearn_bdistil._find_wl.set_epoch_lr`); ``optimizer`` (default
    ``torch.optim.Adam``) gets ``weight_decay`` where it is not 0, as in FIND_WL.
    """
    X = torch.as_tensor(X, dtype=torch.float32)
    fit_input_scaling(module, X)  # as the fit does for the built-in students
    target = torch.as_tensor(target)
    gen = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam if optimizer is None else optimizer
    opt = optimizer(module.parameters(), lr=lr,
                    **({"weight_decay": weight_decay} if weight_decay else {}))
    module.train()
    for epoch in range(epochs):
        set_epoch_lr(opt, lr, lr_schedule, epoch, epochs)
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss(module(X[idx]), target[idx]).backward()
            opt.step()
    return module.eval()


def module_logits(module, X):
    """Outputs of ``module`` on ``X`` as a numpy array, in batches."""
    return forward_in_batches(module, torch.as_tensor(X, dtype=torch.float32), 8192).numpy()


def label_trained_logits(factories, X, codes, X_test, n_classes, seed, *, epochs, batch_size,
                         lr, lr_schedule, optimizer=None, weight_decay=0.0):
    """Test logits of each factory's student trained by cross-entropy on ``codes``
    (class columns of the training rows), student ``k`` seeded ``seed * 1000 + k``."""
    codes = torch.as_tensor(np.asarray(codes, dtype=np.int64))
    out = []
    for k, factory in enumerate(factories):
        s = seed * 1000 + k
        module = build_student(factory, X.shape[1], n_classes, s)
        train_plain(module, X, codes, F.cross_entropy, epochs=epochs, batch_size=batch_size,
                    lr=lr, seed=s, lr_schedule=lr_schedule, optimizer=optimizer,
                    weight_decay=weight_decay)
        out.append(module_logits(module, X_test))
    return out
