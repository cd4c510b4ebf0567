"""Torch state: modules in eval mode, a seeded random state, where a module's inputs go."""

import contextlib

import torch

__all__ = ["eval_mode", "module_placement", "seeded"]


def module_placement(module):
    """``(device, dtype)`` for inputs of ``module``: its first parameter's device
    (CPU without parameters) and floating dtype (e.g. a float64 teacher; else
    float32)."""
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    return device, dtype


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


@contextlib.contextmanager
def seeded(seed, device="cpu"):
    """Torch's random state seeded with ``seed`` inside, the caller's restored after.

    Seeds the CPU generator and, for an accelerator ``device`` (``cuda:k``,
    ``mps``), that device's generator: not ``torch.manual_seed``, which seeds
    (or, before CUDA starts, queues a seed for) every GPU and would change
    the caller's random state on devices the fit never restores.
    """
    device = torch.device(device)
    if device.type in ("cpu", "meta"):
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(seed))
            yield
        return
    backend = getattr(torch, device.type)  # torch.cuda, torch.mps, ...
    index = device.index if device.index is not None else (
        backend.current_device() if hasattr(backend, "current_device") else 0)
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(int(seed))
        if device.type == "cuda":
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        else:
            backend.manual_seed(int(seed))
        yield
