"""Switching torch modules to eval mode and back, submodule by submodule."""

import contextlib

__all__ = ["eval_mode"]


@contextlib.contextmanager
def eval_mode(module):
    """``module`` and every submodule in eval mode, each put back in its own mode after.

    Restoring only the top module's flag with ``train(flag)`` would set every
    submodule to it: a wrapper built in training mode around fitted (eval)
    stages would leave them training (dropout on, batch-norm statistics moving).
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            m.training = mode
