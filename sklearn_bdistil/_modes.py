"""Switching torch modules to eval mode and back, submodule by submodule."""

import contextlib

__all__ = ["eval_mode"]


@contextlib.contextmanager
def eval_mode(*modules):
    """``modules`` (``None`` skipped) and all their submodules in eval mode, each
    put back in its own mode after.

    Restoring only a top module's flag with ``train(flag)`` would set every
    submodule to it: a wrapper built in training mode around fitted (eval)
    stages would leave them training (dropout on, batch-norm statistics moving).
    """
    modes = [(m, m.training) for module in modules if module is not None
             for m in module.modules()]
    for module in modules:
        if module is not None:
            module.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
