"""Property-based and hostile inputs: every case works or fails with a clear error."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, EarlyStoppingWarning, MLPStudent

QUICK = {**FAST, "n_estimators": 2, "max_epochs": 2}


@st.composite
def problems(draw):
    n_classes = draw(st.integers(2, 4))
    n_rows = draw(st.integers(3 * n_classes, 40))
    n_features = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64, np.int32]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = (rng.normal(scale=draw(st.sampled_from([1e-3, 1.0, 1e3])),
                    size=(n_rows, n_features)))
    X = X.astype(dtype) if dtype != np.int32 else np.round(X).astype(dtype)
    y = np.resize(np.arange(n_classes), n_rows)  # every class present
    rng.shuffle(y)
    kind = draw(st.sampled_from(["int", "str", "negative", "bool-like"]))
    if kind == "str":
        y = np.array([f"c{v}" for v in y], dtype=object)
    elif kind == "negative":
        y = y - 10
    elif kind == "bool-like" and n_classes == 2:
        y = y.astype(bool)
    return X, y


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_any_small_problem_fits_and_predicts_sensibly(problem):
    X, y = problem
    clf = BDistilClassifier(LogisticRegression(max_iter=200), [MLPStudent((3,))], **QUICK)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(y))
    if clf.n_estimators_ == 0:  # no stage kept: no prediction either, and it says so
        with pytest.raises(NotFittedError, match="kept no stage"):
            clf.predict_proba(X)
        return
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(clf.classes_))
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= set(np.unique(y))
    assert len(list(clf.staged_predict(X))) == clf.n_estimators_


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5))
def test_mismatched_lengths_and_widths_are_value_errors(extra_rows, extra_cols):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.resize([0, 1], 30)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        BDistilClassifier(LogisticRegression(), **QUICK).fit(X, np.resize(y, 30 + extra_rows))
    y = (X[:, 0] > 0).astype(int)  # something to learn: the fit keeps a stage
    clf = BDistilClassifier(LogisticRegression(), [MLPStudent((3,))],
                            **{**QUICK, "max_epochs": 20}).fit(X, y)
    assert clf.n_estimators_ >= 1
    with pytest.raises(ValueError, match="features"):
        clf.predict(rng.normal(size=(4, 3 + extra_cols)))


def test_pandas_feature_names_are_kept_and_checked(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = BDistilClassifier(LogisticRegression(max_iter=500), [MLPStudent((4,))],
                            **QUICK).fit(df, pd.Series(y))
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_array_equal(clf.predict(df), clf.predict(X))
    renamed = df.rename(columns={"f0": "other"})
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(renamed)


def test_object_arrays(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **QUICK).fit(X.astype(object))
    np.testing.assert_array_equal(clf.predict(X.astype(object)), clf.predict(X))
    words = X.astype(object)
    words[0, 0] = "seven"
    with pytest.raises(ValueError, match="could not convert"):
        clf.predict(words)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_matrices_are_refused_with_a_clear_error(data, teacher, fmt):
    import scipy.sparse as sp

    X, _ = data
    Xs = sp.random(len(X), X.shape[1], density=0.3, format=fmt, random_state=0)
    with pytest.raises(TypeError, match="dense data is required"):
        BDistilClassifier(teacher, **QUICK).fit(Xs)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **QUICK).fit(X)
    with pytest.raises(TypeError, match="dense data is required"):
        clf.predict(Xs)


@pytest.mark.parametrize("X", [np.zeros((0, 3)), np.zeros(5), np.zeros((2, 2, 2)), [[]]])
def test_degenerate_shapes(X):
    with pytest.raises(ValueError):
        BDistilClassifier(LogisticRegression(), **QUICK).fit(X, np.zeros(len(X)))


def test_too_few_rows_to_hold_any_out_is_said():
    """3 rows at validation_fraction=0.1 hold out none: acceptance falls back to the
    training loss and the held-out losses are NaN; that is a warning, not silence."""
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1])
    teacher = LogisticRegression().fit(X, y)
    clf = BDistilClassifier(teacher, [MLPStudent((3,))], **{**QUICK, "validation_fraction": 0.1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        with pytest.warns(UserWarning, match=r"validation_fraction=0.1 of 3 rows holds out no row"):
            clf.fit(X, y)
    assert np.isnan(clf.validation_loss_).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the explicit choice is not warned about
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        clf.set_params(validation_fraction=None).fit(X, y)


def test_values_beyond_float32_are_refused_at_fit_and_predict():
    """Finite in float64 but inf in the students' float32: an error, not NaN output."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.resize([0, 1, 2], 60)
    teacher = LogisticRegression().fit(X, y)
    big = X.copy()
    big[0, 0] = 1e39
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **QUICK)
    with pytest.raises(ValueError, match=r"too large for dtype\('float32'\)"):
        clf.fit(big)
    clf.fit(X)
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(ValueError, match="too large for dtype"):
            method(big)
    with pytest.raises(ValueError, match="too large for dtype"):
        next(clf.staged_predict(-big))
