import numpy as np
import pytest
import torch

from sklearn_bdistil._loss import (
    DistillationCriterion,
    barrier_loss,
    distillation_loss,
    pack_targets,
)


def test_distillation_loss_is_temperature_scaled_kl():
    g = torch.Generator().manual_seed(0)
    F, G = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    for tau in (1.0, 3.0):
        q = torch.softmax(G / tau, 1)
        p = torch.softmax(F / tau, 1)
        expected = tau**2 * (q * (q.log() - p.log())).sum(1)
        torch.testing.assert_close(distillation_loss(F, G, tau, reduction="none"), expected)
    assert float(distillation_loss(G, G)) == pytest.approx(0.0, abs=1e-6)
    # logits are only defined up to a per-row shift
    assert float(distillation_loss(G + 5.0, G)) == pytest.approx(0.0, abs=1e-5)


def test_barrier_prefers_students_aligned_with_the_weights():
    D = torch.tensor([[0.3, -0.2], [-0.1, 0.4]])
    aligned = barrier_loss(3 * torch.sign(D), D)
    opposed = barrier_loss(-3 * torch.sign(D), D)
    assert float(aligned) < 0.0 < float(opposed)
    # bounded by -log(delta) even for a student pushing hard against D
    assert float(barrier_loss(-1e6 * torch.sign(D), D, delta=0.1)) <= -np.log(0.1) + 1e-5
    assert float(barrier_loss(torch.ones(2, 2), torch.zeros(2, 2))) == 0.0


def test_barrier_is_invariant_to_the_scale_of_the_weights():
    D = torch.tensor([[0.3, -0.2], [-0.1, 0.4]])
    f = torch.tensor([[0.5, 0.1], [-2.0, 0.3]])
    torch.testing.assert_close(barrier_loss(f, D), barrier_loss(f, 1e-3 * D))


def test_criterion_unpacks_targets_and_adds_the_barrier():
    g = torch.Generator().manual_seed(2)
    G, F, D = (torch.randn(8, 3, generator=g) for _ in range(3))
    f = torch.randn(8, 3, generator=g, requires_grad=True)
    y = pack_targets(G, F, D)
    plain = DistillationCriterion(temperature=2.0, barrier_strength=0.0)(f, y)
    torch.testing.assert_close(plain, distillation_loss(F + f, G, 2.0))
    full = DistillationCriterion(temperature=2.0, barrier_strength=0.5, barrier_delta=0.2)(f, y)
    torch.testing.assert_close(full, plain + 0.5 * barrier_loss(f, D, 0.2))
    full.backward()
    assert torch.isfinite(f.grad).all()
