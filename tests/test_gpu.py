"""The CUDA path. Every test here carries the ``gpu`` marker and skips without CUDA.

Run on a GPU machine with ``python -m pytest -m gpu``.
"""

import warnings

import numpy as np
import pytest
import torch

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, Conv1dStudent, MLPStudent, _base
from sklearn_bdistil._device import stages_on
from sklearn_bdistil._find_wl import train_student
from sklearn_bdistil._loss import DistillationCriterion, pack_targets
from sklearn_bdistil.students._base import build_student

pytestmark = pytest.mark.gpu


def test_fit_on_cuda_matches_cpu(data, teacher):
    X, _ = data
    params = dict(FAST, n_estimators=4, max_epochs=5)
    cpu = BDistilClassifier(teacher, [MLPStudent((8,))], **params).fit(X)
    gpu = BDistilClassifier(teacher, [MLPStudent((8,))], device="cuda", **params).fit(X)
    assert gpu.n_estimators_ >= 1
    assert all(next(m.parameters()).device.type == "cpu" for m in gpu.estimators_)
    # same minibatch order (drawn on the CPU) and initialisation; float32 kernels differ,
    # so a borderline stage may be kept on one device and not on the other
    n = min(gpu.n_estimators_, cpu.n_estimators_)
    np.testing.assert_allclose(gpu.train_loss_[:n + 1], cpu.train_loss_[:n + 1], rtol=0.05)
    assert (gpu.predict(X) == cpu.predict(X)).mean() > 0.95


def test_a_cuda_fit_is_seeded_and_leaves_the_callers_cuda_random_state(data, teacher):
    X, _ = data
    params = dict(FAST, n_estimators=2, max_epochs=3, device="cuda")
    torch.cuda.manual_seed(123)
    state = torch.cuda.get_rng_state()
    a = BDistilClassifier(teacher, [MLPStudent((8,))], **params).fit(X)
    assert torch.equal(torch.cuda.get_rng_state(), state)
    b = BDistilClassifier(teacher, [MLPStudent((8,))], **params).fit(X)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


def test_transfer_set_stays_on_the_gpu(data, teacher, monkeypatch):
    X, _ = data
    seen = []
    build = _base.Transfer.on_device

    def recording(*args, **kwargs):
        t = build(*args, **kwargs)
        seen.append(t)
        return t

    monkeypatch.setattr(_base.Transfer, "on_device", staticmethod(recording))
    BDistilClassifier(teacher, [MLPStudent((8,))], connection="dense", device="cuda",
                      augmentation="mixup", **FAST).fit(X)
    (t,) = seen
    for name in ("X", "G", "F", "Xv", "Gv", "Fv", "S", "Sv"):
        assert getattr(t, name).is_cuda, name


def test_find_wl_does_not_wait_for_the_gpu_every_batch():
    """At most a few synchronising calls per epoch, not one per minibatch."""
    device = torch.device("cuda")
    rows, features, classes, batch, epochs = 20_000, 32, 5, 256, 4
    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows, features, generator=g).to(device)
    G = torch.randn(rows, classes, generator=g)
    y = pack_targets(G, torch.zeros_like(G), torch.full_like(G, 1 / G.numel())).to(device)
    module = build_student(MLPStudent((16,)), features, classes, seed=0).to(device)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train_student(module, X, y, seed=0, max_epochs=epochs, batch_size=batch, lr=1e-2,
                          optimizer=torch.optim.Adam, device=device, lr_schedule="constant",
                          criterion=(DistillationCriterion, {"temperature": 1.0,
                                                             "barrier_strength": 0.1,
                                                             "barrier_delta": 0.1}))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    batches_per_epoch = -(-rows // batch)
    assert len(syncs) <= 4 * epochs < batches_per_epoch


def test_staged_prediction_on_cuda_matches_cpu(data, teacher):
    X, _ = data
    X = np.tile(X, (50, 1))  # 12,000 rows, several prediction batches
    clf = BDistilClassifier(teacher, [MLPStudent((8,))], connection="lstm",
                            predict_batch_size=4096, **FAST).fit(X[:240])
    cpu = list(clf.staged_decision_function(X))
    gpu = list(clf.set_params(device="cuda").staged_decision_function(X))
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    stages = stages_on(clf, torch.device("cuda"))  # copied once, by the call above
    assert stages_on(clf, torch.device("cuda")) is stages
    assert all(p.is_cuda for p in stages[0][0].parameters())
    gpu_exit, gpu_used = clf.predict_early_exit(X, threshold=0.8)
    cpu_exit, cpu_used = clf.set_params(device="cpu").predict_early_exit(X, threshold=0.8)
    assert (gpu_exit == cpu_exit).mean() > 0.99 and (gpu_used == cpu_used).mean() > 0.99


def test_cnn_students_train_on_cuda():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6 * 40)).astype(np.float32)
    teacher = torch.nn.Linear(X.shape[1], 4)
    clf = BDistilClassifier(teacher, [Conv1dStudent(n_channels=6, n_filters=(8, 16))],
                            device="cuda", **FAST).fit(X)
    assert clf.n_estimators_ >= 1
    assert clf.predict(X).shape == (400,)
