"""Inference cost per row: FLOPs and parameter counts of students and teachers.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a
batch of one row: 2 FLOPs per multiply-add of matrix products and
convolutions. Element-wise work (activations, pooling, the softmax) is not
counted; for the small students here it is a few percent of the total.
Latency is measured, not counted: see :func:`module_latency`.
"""

import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from sklearn_bdistil._modes import eval_mode, module_placement

__all__ = ["module_flops", "module_latency", "module_params", "stage_flops", "stage_latency",
           "stage_params", "teacher_flops"]


@torch.no_grad()
def module_flops(module, n_features_in):
    """FLOPs of one forward pass of ``module`` on one row of ``n_features_in`` floats."""
    # the probe row in the module's own device and floating dtype (e.g. a float64 teacher)
    device, dtype = module_placement(module)
    counter = FlopCounterMode(display=False)
    with eval_mode(module), counter:
        module(torch.zeros(1, n_features_in, device=device, dtype=dtype))
    return float(counter.get_total_flops())


def _stage_call(student, connection, state_width):
    """A module running one stage (student, and connection when there is one)."""
    from sklearn_bdistil.students._connections import stage_forward

    if state_width is None:
        return student

    class _Stage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.student, self.connection = student, connection

        def forward(self, x):
            # the previous state is part of the input row: its width is fixed
            n_features = x.shape[1] - state_width
            return stage_forward(self.student, self.connection, x[:, :n_features],
                                 x[:, n_features:])[0]

    return _Stage()


def stage_flops(student, connection, n_features_in, state_width=None):
    """FLOPs per row of one stage: the student and its connection.

    ``state_width`` is the width of the previous stage's state (``None`` for
    an unconnected stage or the first stage).
    """
    width = 0 if state_width is None else state_width
    return module_flops(_stage_call(student, connection, state_width), n_features_in + width)


def stage_params(student, connection):
    """Parameters of one stage: the student and its connection."""
    return module_params(student) + (0 if connection is None else module_params(connection))


def stage_latency(student, connection, n_features_in, state_width, batch_size):
    """Measured seconds per row of one stage (see :func:`module_latency`)."""
    width = 0 if state_width is None else state_width
    return module_latency(_stage_call(student, connection, state_width),
                          n_features_in + width, batch_size)


def module_params(module):
    """Number of parameters of ``module``."""
    return int(sum(p.numel() for p in module.parameters()))


def _mlp_classifier_flops(mlp):
    return float(sum(2 * w.shape[0] * w.shape[1] for w in mlp.coefs_))


def teacher_flops(teacher, n_features_in):
    """FLOPs per row of a teacher, or ``None`` where they cannot be computed.

    Counted for torch modules, skorch nets and scikit-learn's
    ``MLPClassifier``, also inside a ``FrozenEstimator`` or as the last step of
    a ``Pipeline`` (whose earlier steps are not counted). A module whose input
    width is unknown (the last step of a pipeline that changes the width) or
    whose forward pass fails on a zero row is not counted.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline

    inner = getattr(teacher, "estimator", None)
    if type(teacher).__name__ == "FrozenEstimator" and inner is not None:
        return teacher_flops(inner, n_features_in)
    if isinstance(teacher, Pipeline):
        last = teacher.steps[-1][1]
        width = getattr(last, "n_features_in_", None)
        if width is None and len(teacher.steps) > 1:
            width = getattr(teacher.steps[-2][1], "n_features_out_", None)
            if width is None and hasattr(teacher[:-1], "get_feature_names_out"):
                try:
                    width = len(teacher[:-1].get_feature_names_out())
                except Exception:  # a step without feature names
                    width = None
        return None if width is None else teacher_flops(last, int(width))
    if isinstance(teacher, MLPClassifier) and hasattr(teacher, "coefs_"):
        return _mlp_classifier_flops(teacher)
    module = teacher if isinstance(teacher, torch.nn.Module) else getattr(
        teacher, "module_", None)
    if isinstance(module, torch.nn.Module):
        try:
            return module_flops(module, n_features_in)
        except Exception:  # an input layout we cannot guess: leave it uncounted
            return None
    return None


@torch.no_grad()
def module_latency(module, n_features_in, batch_size, repeats=None, device="cpu"):
    """Measured seconds per row of ``module`` on batches of ``batch_size`` rows.

    The median over ``repeats`` timed calls after three warm-up calls;
    wall-clock time on ``device`` (synchronised on CUDA). A measurement, so it
    varies with the machine and its load, unlike FLOPs.
    """
    if repeats is None:
        repeats = 25 if batch_size == 1 else 5
    x = torch.zeros(batch_size, n_features_in, device=device)
    times = []
    with eval_mode(module):
        for _ in range(repeats + 3):
            start = time.perf_counter()
            module(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            times.append(time.perf_counter() - start)
    return statistics.median(times[3:]) / batch_size
