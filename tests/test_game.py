import torch

from sklearn_bdistil._game import edge, residual_scale, signed_weights


def _k_plus_minus(residual, eta, scale):
    a = (eta / scale) * residual.double()
    z = torch.exp(a).sum() + torch.exp(-a).sum()
    return torch.exp(a) / z, torch.exp(-a) / z


def test_weights_match_the_definition_and_form_one_distribution():
    g = torch.Generator().manual_seed(0)
    residual = torch.randn(50, 4, generator=g)
    scale = residual_scale(residual)
    D = signed_weights(residual, eta=0.7, scale=scale)
    k_plus, k_minus = _k_plus_minus(residual, 0.7, scale)
    torch.testing.assert_close(D.double(), k_plus - k_minus, atol=1e-7, rtol=1e-5)
    assert abs(float(k_plus.sum() + k_minus.sum()) - 1.0) < 1e-9
    assert float(D.abs().sum()) <= 1.0 + 1e-6
    # weight goes where the ensemble is below the teacher (positive residual)
    assert torch.equal(torch.sign(D), torch.sign(residual))


def test_weights_do_not_overflow_on_huge_residuals_or_eta():
    residual = torch.tensor([[1e4, -1e4], [0.0, 3.0]])
    D = signed_weights(residual, eta=1e3, scale=1e-3)
    assert torch.isfinite(D).all()
    assert float(D.abs().sum()) <= 1.0 + 1e-6
    assert D[0, 0] > 0.49 and D[0, 1] < -0.49


def test_constant_residual_has_zero_scale_and_zero_weights():
    residual = torch.full((5, 3), 2.5)
    assert residual_scale(residual) == 0.0
    assert torch.count_nonzero(signed_weights(residual, 1.0, 0.0)) == 0


def test_edge_is_bounded_and_rewards_agreement_with_the_residual():
    g = torch.Generator().manual_seed(1)
    residual = torch.randn(30, 3, generator=g)
    D = signed_weights(residual, 1.0, residual_scale(residual))
    aligned = edge(D, 100.0 * torch.sign(residual))
    opposed = edge(D, -100.0 * torch.sign(residual))
    assert abs(aligned - float(D.abs().sum())) < 1e-5
    assert abs(opposed + aligned) < 1e-9
    assert -1.0 <= opposed < 0.0 < aligned <= 1.0
    assert edge(D, torch.zeros_like(residual)) == 0.0
