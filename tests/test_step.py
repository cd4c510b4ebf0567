import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from sklearn_bdistil._loss import distillation_loss
from sklearn_bdistil._step import line_search


def test_line_search_recovers_the_exact_step():
    g = torch.Generator().manual_seed(0)
    G = 3 * torch.randn(40, 5, generator=g)
    F = torch.zeros_like(G)
    # the teacher itself, scaled down: the best step scales it back up
    assert line_search(F, G / 4.0, G) == pytest.approx(4.0, rel=1e-4)


@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_line_search_matches_a_scalar_minimiser(tau):
    g = torch.Generator().manual_seed(1)
    G, F = torch.randn(60, 4, generator=g), 0.3 * torch.randn(60, 4, generator=g)
    f = (G - F) + 0.5 * torch.randn(60, 4, generator=g)
    a = line_search(F, f, G, tau)

    def loss(t):
        return float(distillation_loss((F + t * f).double(), G.double(), tau))

    best = minimize_scalar(loss, bounds=(0, 50), method="bounded", options={"xatol": 1e-8})
    assert a == pytest.approx(best.x, rel=1e-3, abs=1e-4)
    assert loss(a) <= loss(0.0)


def test_line_search_is_unbounded_above():
    G = torch.tensor([[1.0, -1.0], [-1.0, 0.5]])
    # within 0.1%: the float32 loss is flat to rounding within 0.03% of the optimum
    assert line_search(torch.zeros_like(G), G * 1e-3, G) == pytest.approx(1000.0, rel=1e-3)


def test_line_search_returns_zero_for_a_useless_direction():
    G = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    F = torch.zeros_like(G)
    assert line_search(F, -G, G) == 0.0
    assert line_search(F, torch.zeros_like(G), G) == 0.0
    assert line_search(F, torch.full_like(G, np.nan), G) == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_line_search_ignores_a_row_constant_direction(seed):
    """Adding a constant to a row leaves its softmax unchanged: the loss is flat along
    such an f, so the step is 0 (not a step chosen by float32 rounding noise), and
    adding such a part to a useful f leaves the step unchanged."""
    g = torch.Generator().manual_seed(seed)
    F, G = torch.randn(300, 4, generator=g), 3 * torch.randn(300, 4, generator=g)
    shift = torch.randn(300, 1, generator=g).expand(300, 4)
    assert line_search(F, shift.contiguous(), G) == 0.0
    f = (G - F) / 3
    assert line_search(F, f + 5 * shift, G) == pytest.approx(line_search(F, f, G), rel=1e-4)
