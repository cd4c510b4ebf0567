"""Bad input gets a clear error naming the problem."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, EarlyStoppingWarning, MLPStudent


@pytest.fixture
def fitted(data, teacher):
    X, _ = data
    return BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(data, teacher, fitted, bad):
    X, _ = data
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.predict(X)


def test_wrong_number_of_features_at_predict(data, fitted):
    X, _ = data
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :5])


def test_predict_before_fit(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))])
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        next(clf.staged_predict(X))


def test_empty_student_list(data, teacher):
    X, _ = data
    with pytest.raises(ValueError, match="students is empty"):
        BDistilClassifier(teacher, [], **FAST).fit(X)


def test_student_that_is_not_a_factory(data, teacher):
    X, _ = data
    with pytest.raises(TypeError, match="must be a factory"):
        BDistilClassifier(teacher, [torch.nn.Linear(8, 3)], **FAST).fit(X)


class _PredictOnly(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_teacher_without_scores(data):
    X, y = data
    with pytest.raises(TypeError, match="neither"):
        BDistilClassifier(_PredictOnly().fit(X, y), **FAST).fit(X)


def test_labels_the_teacher_does_not_know(data, teacher):
    X, y = data
    y = y.copy()
    y[:5] = 7
    with pytest.raises(ValueError, match=r"labels the teacher does not know: \[7\]"):
        BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X, y)


@pytest.mark.parametrize("n", [0, -1])
def test_n_estimators_below_one(data, teacher, n):
    X, _ = data
    with pytest.raises(ValueError, match="n_estimators"):
        BDistilClassifier(teacher, n_estimators=n).fit(X)


@pytest.mark.parametrize("param, value", [("eta", -1.0), ("eta", 0.0), ("gamma", 2.0),
                                          ("temperature", 0.0), ("learning_rate", 0),
                                          ("barrier_delta", 1.0), ("lr", -1e-3),
                                          ("validation_fraction", 1.0), ("students", "mlp")])
def test_out_of_range_parameters(data, teacher, param, value):
    X, _ = data
    with pytest.raises((ValueError, TypeError), match=param):
        BDistilClassifier(teacher, **{param: value}).fit(X)


def test_y_needed_for_an_unfitted_teacher(data):
    X, _ = data
    with pytest.raises(ValueError, match="requires y"):
        BDistilClassifier(LogisticRegression(), **FAST).fit(X)


def test_y_and_X_lengths_differ(data):
    X, y = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        BDistilClassifier(LogisticRegression(), **FAST).fit(X, y[:-1])


def test_regression_targets_are_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match="Unknown label type"):
        BDistilClassifier(LogisticRegression(), **FAST).fit(X, y + 0.5)


def test_teacher_logits_of_the_wrong_shape(data, teacher):
    X, _ = data
    with pytest.raises(ValueError, match="teacher_logits must have shape"):
        BDistilClassifier(teacher, **FAST).fit(X, teacher_logits=np.zeros((len(X) - 1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        BDistilClassifier(teacher, **FAST).fit(X, teacher_logits=np.full((len(X), 3), np.nan))
    with pytest.raises(ValueError, match="classes_ lists 3 classes but the teacher gives 4"):
        BDistilClassifier(teacher, **FAST).fit(X, teacher_logits=np.zeros((len(X), 4)))


def test_more_labels_in_y_than_module_outputs_names_y_and_classes(data):
    X, y = data
    module = torch.nn.Linear(X.shape[1], 2)  # y holds 3 labels
    with pytest.raises(ValueError, match=r"y holds 3 classes .* gives 2 .*classes=\["):
        BDistilClassifier(module, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"classes= .* lists 3 classes but the teacher gives 2"):
        BDistilClassifier(module, classes=[0, 1, 2], **FAST).fit(X, y)


def test_non_numeric_dataframe_column_is_named(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X[:, :2], columns=["a", "b"]).assign(colour="green")
    teacher = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        LogisticRegression()).fit(frame, y)
    est = BDistilClassifier(teacher, **FAST)
    with pytest.raises(ValueError, match=r"non-numeric columns \['colour'\].*OneHotEncoder"):
        est.fit(frame, y)
    numeric = frame[["a", "b"]]
    est = BDistilClassifier(LogisticRegression().fit(numeric, y), **FAST).fit(numeric, y)
    with pytest.raises(ValueError, match=r"non-numeric columns \['b'\]"):
        est.predict(numeric.assign(b="x"))


def test_sparse_input_is_rejected_clearly(data, teacher):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, _ = data
    with pytest.raises(TypeError, match="[Ss]parse"):
        BDistilClassifier(teacher, **FAST).fit(scipy_sparse.csr_matrix(X))


@pytest.mark.parametrize("n_stages", [0, 4, 1.5, True])
def test_n_stages_out_of_range(data, fitted, n_stages):
    X, _ = data
    with pytest.raises(ValueError, match="n_stages"):
        fitted.predict(X, n_stages=n_stages)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda(data, teacher):
    X, _ = data
    with pytest.raises(ValueError, match="CUDA is not available"):
        BDistilClassifier(teacher, device="cuda", **FAST).fit(X)


@pytest.mark.parametrize("device, message", [
    ("meta", "holds no values"),
    pytest.param("mps", "not available here", marks=pytest.mark.skipif(
        torch.backends.mps.is_available(), reason="needs a machine without MPS")),
    pytest.param("cuda:7", "CUDA", marks=pytest.mark.skipif(
        torch.cuda.device_count() > 7, reason="needs fewer than 8 GPUs")),
])
def test_device_that_cannot_hold_the_fit(data, teacher, fitted, device, message):
    X, _ = data
    with pytest.raises(ValueError, match=message):
        BDistilClassifier(teacher, device=device, **FAST).fit(X)
    if device != "meta":  # prediction falls back to the CPU, as for a missing CUDA
        with pytest.warns(UserWarning, match="predicting on the CPU"):
            np.testing.assert_array_equal(fitted.set_params(device=device).predict(X),
                                          fitted.set_params(device="cpu").predict(X))


def test_unknown_device(data, teacher):
    X, _ = data
    with pytest.raises(ValueError, match="not a torch device"):
        BDistilClassifier(teacher, device="gpu0", **FAST).fit(X)


@pytest.mark.parametrize("bad, error", [("mlp", TypeError),
                                        (torch.nn.Linear(8, 3), TypeError),
                                        (MLPStudent(activation="sigmoid"), ValueError)])
def test_every_student_is_checked_before_any_training(data, teacher, bad, error, monkeypatch):
    from sklearn_bdistil import _base

    def no_training(*args, **kwargs):
        raise AssertionError("a round started")

    monkeypatch.setattr(_base, "find_wl", no_training)
    X, _ = data
    with pytest.raises(error):
        BDistilClassifier(teacher, [MLPStudent((4,)), bad], **FAST).fit(X)


def test_teacher_logits_may_be_a_tensor_that_requires_grad(data, teacher):
    X, _ = data
    G = torch.log(torch.as_tensor(teacher.predict_proba(X))).requires_grad_()
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X, teacher_logits=G)
    assert clf.n_estimators_ >= 1


def test_warm_start_with_a_shorter_ladder_is_refused(data, teacher):
    X, _ = data
    small, big = MLPStudent(()), MLPStudent((16,))
    clf = BDistilClassifier(teacher, [small, big], warm_start=True, **FAST).fit(X)
    # as if the last stage had escalated to `big` (a warm start continues from the
    # rounds' stages, which the fitted attributes show unless a final step replaced them)
    clf._round_records[-1].student_index = 1
    with pytest.raises(ValueError, match="use entry 1 of students, but students now has 1"):
        clf.set_params(students=[small], n_estimators=5).fit(X)


def test_held_out_rows_are_whole_groups():
    from sklearn_bdistil._validation import check_groups, split_rows

    groups = check_groups(np.repeat(["s1", "s2", "s3", "s4", "s5"], 20), 100)
    train, valid = split_rows(100, 0.4, seed=3, groups=groups)
    assert len(np.unique(groups[valid])) == 2
    assert not set(groups[train]) & set(groups[valid])
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(100))
    # the same seed and groups: the same split; at least one group, never all
    np.testing.assert_array_equal(split_rows(100, 0.4, 3, groups)[1], valid)
    assert len(np.unique(groups[split_rows(100, 0.01, 0, groups)[1]])) == 1
    assert len(np.unique(groups[split_rows(100, 0.99, 0, groups)[0]])) == 1
    with pytest.raises(ValueError, match="single group"):
        split_rows(100, 0.1, 0, np.zeros(100, dtype=int))
    assert split_rows(100, None, 0, np.zeros(100, dtype=int))[1].size == 0
    with pytest.raises(ValueError, match="one label per row"):
        check_groups(np.zeros(99), 100)


def test_without_groups_the_held_out_rows_are_contiguous_blocks():
    from sklearn_bdistil._validation import N_BLOCKS, split_rows

    train, valid = split_rows(2000, 0.1, seed=0)
    assert len(valid) == 200 and sorted(np.r_[train, valid].tolist()) == list(range(2000))
    # a few runs of neighbouring rows, not 200 scattered rows: overlapping windows
    # (neighbours in X) sit on one side of the split but at the runs' ends
    runs = 1 + np.count_nonzero(np.diff(valid) > 1)
    assert runs <= round(0.1 * N_BLOCKS)
    assert not np.array_equal(valid, split_rows(2000, 0.1, seed=1)[1])
    np.testing.assert_array_equal(valid, split_rows(2000, 0.1, seed=0)[1])
    assert split_rows(3, 0.1, 0)[1].size == 0          # too few rows: none held out
    assert split_rows(100, None, 0)[1].size == 0


def test_fit_with_groups_holds_out_whole_groups(data, teacher, monkeypatch):
    from sklearn_bdistil import BDistilClassifier, MLPStudent, _base

    X, _ = data
    groups = np.repeat(np.arange(12), 20)
    seen = []
    split = _base.split_rows

    def recording(*args):
        seen.append(split(*args))
        return seen[-1]

    monkeypatch.setattr(_base, "split_rows", recording)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], n_estimators=2, max_epochs=2,
                            gamma=-1.0, validation_fraction=0.25, random_state=0)
    clf.fit(X, groups=groups)
    train, valid = seen[-1]
    assert len(np.unique(groups[valid])) == 3
    assert not set(groups[train]) & set(groups[valid])
    # metadata routing: a search can pass the groups on to fit
    import sklearn
    from sklearn.model_selection import GroupKFold, cross_validate

    with sklearn.config_context(enable_metadata_routing=True):
        routed = BDistilClassifier(teacher, [MLPStudent((4,))], n_estimators=1, max_epochs=1,
                                   gamma=-1.0, random_state=0).set_fit_request(groups=True)
        y = teacher.predict(X)
        scores = cross_validate(routed, X, y, cv=GroupKFold(3), params={"groups": groups})
    assert len(scores["test_score"]) == 3


def test_a_teacher_fed_inputs_it_was_not_fitted_on_is_a_warning():
    """Pipeline(scaler, BDistilClassifier(FrozenEstimator(teacher fitted on raw X))):
    the teacher sees scaled rows and answers one class; distilled silently, the model
    would score the majority rate."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    raw = LogisticRegression(max_iter=5000).fit(X, y)
    kwargs = dict(n_estimators=1, max_epochs=1, random_state=0)
    wrong = make_pipeline(StandardScaler(),
                          BDistilClassifier(FrozenEstimator(raw), [MLPStudent((4,))], **kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        with pytest.warns(UserWarning, match=r"no better than always answering the most "
                                             r"frequent label \(62.7%\).*Pipeline step"):
            wrong.fit(X, y)
        with pytest.warns(UserWarning, match="answers the same class for all 569 transfer rows"):
            wrong.fit(X)
        # the teacher where it belongs: inside, behind its own scaler; no warning
        right = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", EarlyStoppingWarning)  # a UserWarning too
        BDistilClassifier(FrozenEstimator(right), [MLPStudent((4,))], **kwargs).fit(X, y)


def test_an_untrained_torch_teacher_is_a_warning_when_labels_can_tell():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    torch.manual_seed(0)
    untrained = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        with pytest.warns(UserWarning, match="not trained"):
            BDistilClassifier(untrained, [MLPStudent((4,))], n_estimators=1, max_epochs=1,
                              random_state=0).fit(X, y)
