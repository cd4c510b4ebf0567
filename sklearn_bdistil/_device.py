"""Where prediction runs: the device, checked, and the stages' copies on it."""

import copy
import warnings

import torch

__all__ = ["resolve_device", "stages_on"]


def resolve_device(device, *, fallback):
    """``torch.device(device)``, checked; with ``fallback`` a missing CUDA means CPU.

    A model fitted on a GPU must still predict on a CPU-only machine, so
    prediction falls back (with a warning) where fitting raises.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from exc
    if device.type == "meta":
        raise ValueError("device='meta' holds no values; use 'cpu' or an accelerator.")
    if not _available(device):
        if not fallback:
            what = ("CUDA is not available here" if device.type == "cuda"
                    else "that device is not available here")
            if device.type == "cuda" and torch.cuda.is_available():
                what = f"this machine has {torch.cuda.device_count()} CUDA device(s)"
            raise ValueError(f"device={str(device)!r} but {what}.")
        warnings.warn(f"device={str(device)!r} is not available here; predicting on the CPU.",
                      UserWarning, stacklevel=4)
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None:
        # "cuda" means the current device: name it, so that the copies of the stages
        # cached for it are not reused after torch.cuda.set_device moves elsewhere
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _available(device):
    """Whether tensors can be placed on ``device`` (its type, and its index if given)."""
    if device.type == "cpu":
        return True
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.mps, torch.xpu, ...
    if backend is not None and hasattr(backend, "is_available"):
        if not backend.is_available():
            return False
        count = getattr(backend, "device_count", None)
        return device.index is None or count is None or device.index < count()
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError):
        return False
    return True


def _stage_key(module):
    """What identifies the current weights of ``module`` (or ``None``) without reading them."""
    if module is None:
        return None
    return id(module), tuple((t.data_ptr(), t._version)
                             for t in module.state_dict(keep_vars=True).values())


def stages_on(estimator, device):
    """``(student, connection)`` per stage of a fitted ``estimator``, on ``device``.

    The fitted modules stay on the CPU (picklable, loadable anywhere); for
    another device they are copied there once and the copies kept on the
    estimator for later calls, so many small predictions on a GPU do not each
    pay for moving every stage. The copies are made again when a stage
    changes: another module, or a parameter or buffer replaced or modified in
    place (e.g. by ``load_state_dict``). Pickling drops them.
    """
    stages = list(zip(estimator.estimators_, estimator.connections_, strict=True))
    if device.type == "cpu":
        return stages
    key = (str(device), tuple(_stage_key(m) for stage in stages for m in stage))
    cached = estimator.__dict__.get("_device_stages")
    if cached is None or cached[0] != key:
        copies = [tuple(None if m is None else copy.deepcopy(m).to(device)
                        for m in stage) for stage in stages]
        cached = estimator._device_stages = (key, copies)
    return cached[1]
