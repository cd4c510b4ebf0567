"""The FIND_WL training step has no data-dependent Python branch.

A branch on a tensor's value (``if loss > 0``, ``.item()``) makes the host
wait for the GPU at every minibatch, which leaves small students launch-bound
(see ``tests/test_gpu.py`` for the same check on a GPU). Such a branch also
breaks a ``torch.compile`` graph, so tracing the student's forward pass and
the criterion with ``fullgraph=True`` finds it on a CPU (``backend="eager"``
only traces: no compiler runs).
"""

import pytest
import torch

from sklearn_bdistil import Conv1dStudent, Conv2dStudent, MLPStudent
from sklearn_bdistil._find_wl import ConnectedTrainer, build_stage
from sklearn_bdistil._loss import DistillationCriterion, pack_targets
from sklearn_bdistil.students._connections import state_layout

N_CLASSES = 3
STUDENTS = [(MLPStudent((8,)), 12), (Conv1dStudent(n_channels=2, n_filters=(4,)), 2 * 16),
            (Conv2dStudent(n_channels=1, height=8, n_filters=(4,)), 64)]


def _batch(n_features, extra=0, rows=16):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows, n_features + extra, generator=g)
    G, F, D = (torch.randn(rows, N_CLASSES, generator=g) for _ in range(3))
    return X, pack_targets(G, F, D / D.abs().sum())


def _traces_as_one_graph(module, X, y):
    criterion = DistillationCriterion(barrier_strength=0.1)

    def step(xb, yb):  # the backward pass is autograd's, with no Python in it
        return criterion(module(xb), yb)

    torch._dynamo.reset()
    expected = step(X, y)
    traced = torch.compile(step, fullgraph=True, backend="eager")(X, y)  # raises on a break
    torch.testing.assert_close(traced, expected)


@pytest.mark.parametrize("factory, n_features", STUDENTS, ids=["mlp", "conv1d", "conv2d"])
def test_student_and_criterion_trace_as_one_graph(factory, n_features):
    student, _ = build_stage(factory, n_features, N_CLASSES, "none", None, seed=0)
    _traces_as_one_graph(student, *_batch(n_features))


@pytest.mark.parametrize("connection", ["dense", "residual", "gru", "lstm"])
def test_connected_stage_traces_as_one_graph(connection):
    factory, n_features = STUDENTS[0]
    first, _ = build_stage(factory, n_features, N_CLASSES, connection, None, seed=0)
    student, link = build_stage(factory, n_features, N_CLASSES, connection, (first, None),
                                seed=1)
    width, has_cell = state_layout(first, None)
    module = ConnectedTrainer(student, link, n_features)
    _traces_as_one_graph(module, *_batch(n_features, extra=width * (1 + has_cell)))


def test_barrier_of_all_zero_weights_is_zero():
    X, y = _batch(12)
    y[:, 2 * N_CLASSES:] = 0.0
    without = DistillationCriterion(barrier_strength=0.0)
    with_barrier = DistillationCriterion(barrier_strength=0.1)
    logits = torch.randn(16, N_CLASSES)
    torch.testing.assert_close(with_barrier(logits, y), without(logits, y))
