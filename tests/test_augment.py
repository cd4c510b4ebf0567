"""Enlarging the transfer set with teacher-labelled rows (``augmentation``)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from skorch.dataset import Dataset

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, MLPStudent, _find_wl
from sklearn_bdistil._augment import augment_rows
from sklearn_bdistil._find_wl import TensorBatchIterator


@pytest.mark.parametrize("kind", ["mixup", "jitter"])
def test_built_in_augmentations(data, kind):
    X, _ = data
    new = augment_rows(X, kind, 3, seed=7)
    assert new.shape == (3 * len(X), X.shape[1])
    assert new.dtype == np.float32
    np.testing.assert_array_equal(new, augment_rows(X, kind, 3, seed=7))
    assert not np.allclose(new, augment_rows(X, kind, 3, seed=8))
    assert not np.allclose(new[:len(X)], X)  # new rows, not copies
    if kind == "mixup":  # convex combinations stay inside each feature's range
        assert (new >= X.min(axis=0) - 1e-5).all() and (new <= X.max(axis=0) + 1e-5).all()
    else:  # noise of about 0.1 feature standard deviations
        noise = (new[:len(X)] - X) / X.std(axis=0)
        assert 0.05 < noise.std() < 0.2


def test_no_copies_gives_no_rows(data):
    X, _ = data
    assert augment_rows(X, "mixup", 0, seed=0).shape == (0, X.shape[1])
    assert augment_rows(X, None, 2, seed=0).shape == (0, X.shape[1])


def test_callable_augmentation_gets_a_generator(data):
    X, _ = data
    seen = []

    def flip(rows, rng):
        seen.append(type(rng))
        return rows[:, ::-1]

    new = augment_rows(X, flip, 2, seed=0)
    np.testing.assert_array_equal(new, np.concatenate([X[:, ::-1]] * 2))
    assert seen == [np.random.Generator] * 2


@pytest.mark.parametrize("bad, error, match", [
    (lambda X, rng: X[:-1], ValueError, "shape"),
    (lambda X, rng: X * np.nan, ValueError, "NaN"),
    (lambda X, rng: "rows", TypeError, "array of numbers"),
    (lambda X, rng: {"a": 1}, TypeError, "array of numbers"),
])
def test_bad_callable_is_named(data, teacher, bad, error, match):
    X, _ = data
    with pytest.raises(error, match=match):
        BDistilClassifier(teacher, [MLPStudent((4,))], augmentation=bad, **FAST).fit(X)


def test_unknown_augmentation_is_rejected(data, teacher):
    X, _ = data
    with pytest.raises(ValueError, match="augmentation"):
        BDistilClassifier(teacher, augmentation="cutmix", **FAST).fit(X)


def test_teacher_labels_the_new_training_rows_only(data):
    X, y = data
    torch.manual_seed(1)  # the same teacher whatever ran before (one that gives stages)
    teacher = torch.nn.Linear(X.shape[1], 3)
    seen = []
    teacher.register_forward_hook(lambda m, inp, out: seen.append(len(inp[0])))
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], augmentation="mixup",
                            augmentation_copies=2, validation_fraction=0.25, **FAST)
    clf.fit(X)
    n_train = len(X) - int(round(0.25 * len(X)))
    assert seen[:2] == [len(X), 2 * n_train]  # the transfer set, then its new rows
    assert clf.n_estimators_ >= 1


def test_epoch_is_one_pass_over_the_rows_as_given(data, teacher, monkeypatch):
    X, _ = data
    batches = []
    train = _find_wl.train_student

    def recording(*args, **kwargs):
        net = train(*args, **kwargs)
        batches.append([(e["train_batch_count"], sum(b["train_batch_size"]
                                                     for b in e["batches"]))
                        for e in net.history])
        return net

    monkeypatch.setattr(_find_wl, "train_student", recording)
    params = dict(FAST, n_estimators=1, validation_fraction=None)
    BDistilClassifier(teacher, [MLPStudent((4,))], **params).fit(X)
    plain = batches.pop()
    BDistilClassifier(teacher, [MLPStudent((4,))], augmentation="jitter",
                      augmentation_copies=3, **params).fit(X)
    assert batches.pop() == plain == [(4, len(X))] * FAST["max_epochs"]


def test_running_order_visits_every_row_once_per_cycle():
    X = torch.arange(30, dtype=torch.float32)[:, None]
    it = TensorBatchIterator(Dataset(X, torch.zeros(30)), batch_size=4, shuffle=True,
                             seed=0, epoch_rows=10)
    assert len(it) == 3
    epochs = [torch.cat([xb for xb, _ in it]).ravel().long().tolist() for _ in range(6)]
    assert all(len(e) == 10 for e in epochs)
    for cycle in (epochs[:3], epochs[3:]):
        assert sorted(sum(cycle, [])) == list(range(30))
    assert epochs[:3] != epochs[3:]  # a new order each cycle


def test_zero_copies_is_no_augmentation(data, teacher):
    X, _ = data
    off = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    zero = BDistilClassifier(teacher, [MLPStudent((4,))], augmentation="mixup",
                             augmentation_copies=0, **FAST).fit(X)
    np.testing.assert_array_equal(off.decision_function(X), zero.decision_function(X))


def test_augmentation_with_precomputed_logits_needs_a_fitted_teacher(data):
    X, y = data
    fitted = LogisticRegression(max_iter=500).fit(X, y)
    G = np.log(fitted.predict_proba(X))
    clf = BDistilClassifier(fitted, [MLPStudent((4,))], augmentation="mixup", **FAST)
    assert clf.fit(X, teacher_logits=G).n_estimators_ >= 1
    unfitted = BDistilClassifier(LogisticRegression(), [MLPStudent((4,))],
                                 augmentation="mixup", **FAST)
    with pytest.raises(ValueError, match="fitted teacher"):
        unfitted.fit(X, teacher_logits=G)
    without = BDistilClassifier(None, [MLPStudent((4,))], augmentation="jitter", **FAST)
    with pytest.raises(ValueError, match="fitted teacher"):
        without.fit(X, teacher_logits=G)


def test_augmented_fit_is_reproducible_and_warm_starts(data, teacher):
    X, _ = data
    # without the final corrective step, which would correct the first stages again
    params = dict(FAST, augmentation="mixup", final_corrective_epochs=0)
    a = BDistilClassifier(teacher, [MLPStudent((4,))], **params).fit(X)
    b = BDistilClassifier(teacher, [MLPStudent((4,))], **params).fit(X)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    before = a.decision_function(X)
    a.set_params(warm_start=True, n_estimators=a.n_estimators_ + 1).fit(X)
    stages = list(a.staged_decision_function(X))
    np.testing.assert_allclose(stages[b.n_estimators_ - 1], before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n, batch, processes", [(9, 4, 1), (10, 4, 1), (8, 4, 1), (3, 4, 1),
                                                 (5, 1, 1), (11, 4, 2), (13, 4, 2), (4, 4, 2)])
def test_a_one_row_last_batch_is_not_trained_on(n, batch, processes):
    """Batch normalisation cannot train on one row; its length matches what it yields."""
    X = torch.arange(n, dtype=torch.float32)[:, None]
    it = TensorBatchIterator(Dataset(X, torch.zeros(n)), batch_size=batch, shuffle=True,
                             seed=0, num_processes=processes)
    sizes = [len(xb) for xb, _ in it]
    assert len(sizes) == len(it)
    assert min(sizes) >= (1 if batch == 1 or n <= batch else 2)


def test_a_batch_norm_student_trains_when_one_row_is_left_over(data, teacher):
    from torch import nn

    X, _ = data

    def batch_norm_student(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, 8), nn.BatchNorm1d(8), nn.ReLU(),
                             nn.Linear(8, n_out))

    # 240 rows, 24 held out: 216 = 5 * 43 + 1 training rows, so one row is left over
    clf = BDistilClassifier(teacher, [batch_norm_student],
                            **{**FAST, "batch_size": 43, "validation_fraction": 0.1}).fit(X)
    assert clf.n_estimators_ >= 1
