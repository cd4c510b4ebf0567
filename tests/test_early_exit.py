"""Per-row early exit: predict_early_exit and early_exit_curve."""


import numpy as np
import pytest

from sklearn_bdistil import early_exit_curve


def test_early_exit_stops_rows_at_the_first_confident_stage(data, fitted):
    X, _ = data
    staged = list(fitted.staged_predict_proba(X))
    for threshold in (0.5, 0.8, 0.95):
        y_pred, used = fitted.predict_early_exit(X, threshold=threshold)
        assert used.min() >= 1 and used.max() <= fitted.n_estimators_
        for i in range(len(X)):
            k = used[i] - 1
            confident = [p[i].max() >= threshold for p in staged]
            # exits at the first confident stage, or at the last one
            assert k == (confident.index(True) if any(confident) else len(staged) - 1)
            assert y_pred[i] == fitted.classes_[staged[k][i].argmax()]
    # a threshold no row reaches is the full ensemble; zero is the first stage
    reached = max(p.max() for p in staged[:-1])
    if reached < 1.0:
        y_all, used_all = fitted.predict_early_exit(X, threshold=1.0)
        np.testing.assert_array_equal(y_all, fitted.predict(X))
        assert (used_all == fitted.n_estimators_).all()
    assert (fitted.predict_early_exit(X, threshold=0.0)[1] == 1).all()


@pytest.mark.parametrize("threshold, confidence", [(1.5, "proba"), (-0.1, "proba"),
                                                   (float("nan"), "proba"),
                                                   (-1.0, "margin"), (float("inf"), "proba")])
def test_early_exit_rejects_a_threshold_outside_the_confidence_range(data, fitted, threshold,
                                                                     confidence):
    X, y = data
    with pytest.raises(ValueError, match=rf"threshold=.* is outside .*{confidence}"):
        fitted.predict_early_exit(X, threshold=threshold, confidence=confidence)
    with pytest.raises(ValueError, match="is outside|without NaN"):
        early_exit_curve(fitted, X, y, thresholds=[0.5, threshold], confidence=confidence)
    # the margin has no upper bound
    assert fitted.predict_early_exit(X, threshold=50.0, confidence="margin")[1].max() >= 1


def test_early_exit_with_margins(data, fitted):
    X, _ = data
    F = fitted.decision_function(X, n_stages=1)
    top2 = np.sort(F, axis=1)[:, -2:]
    _, used = fitted.predict_early_exit(X, threshold=1.0, confidence="margin")
    np.testing.assert_array_equal(used == 1, top2[:, 1] - top2[:, 0] >= 1.0)
    with pytest.raises(ValueError, match="confidence"):
        fitted.predict_early_exit(X, confidence="entropy")


def test_early_exit_curve_matches_predict_early_exit(data, fitted):
    X, y = data
    curve = early_exit_curve(fitted, X, y, thresholds=[0.5, 0.9, 1.0])
    for t, cost, acc in zip(curve.thresholds, curve.mean_cost, curve.accuracy, strict=True):
        y_pred, used = fitted.predict_early_exit(X, threshold=t)
        assert cost == pytest.approx(fitted.cumulative_costs_[used - 1].mean())
        assert acc == pytest.approx((y_pred == y).mean())
    assert curve.mean_cost[-1] == fitted.cumulative_costs_[-1]
    assert np.all(np.diff(curve.mean_cost) >= 0)
    np.testing.assert_allclose(curve.prefix_accuracy,
                               [(p == y).mean() for p in fitted.staged_predict(X)])
    default = early_exit_curve(fitted, X, y)
    assert len(default.thresholds) >= 2


@pytest.mark.parametrize("threshold", ["0.5", None, [0.5], True])
@pytest.mark.parametrize("confidence, allowed", [("proba", r"\[0, 1\]"),
                                                 ("margin", r"\[0, inf\)")])
def test_early_exit_threshold_must_be_a_real_number(data, fitted, threshold, confidence,
                                                    allowed):
    X, _ = data
    with pytest.raises(TypeError, match=f"threshold must be a real number, got .*{allowed}"):
        fitted.predict_early_exit(X, threshold=threshold, confidence=confidence)
    with pytest.raises(ValueError, match=f"threshold=nan is outside {allowed}"):
        fitted.predict_early_exit(X, threshold=float("nan"), confidence=confidence)


def test_early_exit_threshold_accepts_numpy_scalars_and_an_infinite_margin(data, fitted):
    X, _ = data
    np.testing.assert_array_equal(fitted.predict_early_exit(X, threshold=np.float32(0.8))[1],
                                  fitted.predict_early_exit(X, threshold=0.8)[1])
    used = fitted.predict_early_exit(X, threshold=np.inf, confidence="margin")[1]
    assert (used == fitted.n_estimators_).all()


def test_early_exit_curve_needs_one_label_per_row(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match=f"X has {len(X)} rows, y has {len(X) - 1} labels"):
        early_exit_curve(fitted, X, y[:-1])
    with pytest.raises(ValueError, match=f"X has {len(X)} rows, y has {len(X) + 1} labels"):
        early_exit_curve(fitted, X.tolist(), np.append(y, 0))
    with pytest.raises(ValueError, match=rf"y must be 1-D.*\({len(X)}, 1\)"):
        early_exit_curve(fitted, X, y.reshape(-1, 1))


@pytest.mark.parametrize("thresholds, error", [(["high"], TypeError), ([], ValueError),
                                               ([0.5, np.nan], ValueError),
                                               ([[0.5]], ValueError)])
def test_early_exit_curve_checks_thresholds(data, fitted, thresholds, error):
    X, y = data
    with pytest.raises(error, match="thresholds must be"):
        early_exit_curve(fitted, X, y, thresholds=thresholds)
