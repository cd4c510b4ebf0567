"""The target of the rounds: the teacher mixed with the labels (``label_weight``)."""

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from sklearn_bdistil import BDistilClassifier, MLPStudent
from sklearn_bdistil._target import PROB_FLOOR, label_codes, target_logits


def test_target_logits_mix_the_teacher_and_the_labels():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(50, 4)).astype(np.float32) * 3
    codes = rng.integers(0, 4, size=50)
    assert target_logits(G, None, 0.7) is G            # no labels: the teacher alone
    assert target_logits(G, codes, 0.0) is G           # weight 0: the teacher alone
    for tau in (1.0, 2.5):
        T = target_logits(G, codes, 0.3, tau)
        q = 0.7 * softmax(G / tau, axis=1)
        q[np.arange(50), codes] += 0.3
        q = np.maximum(q, PROB_FLOOR)
        q /= q.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(softmax(T / tau, axis=1), q, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(T.mean(axis=1), 0, atol=1e-4)   # row-centred
    # labels alone: the floored one-hot, finite
    p = softmax(target_logits(G, codes, 1.0), axis=1)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[np.arange(50), codes], 1 - 3 * PROB_FLOOR, rtol=1e-4)


def test_label_codes_follow_the_teachers_output_order():
    np.testing.assert_array_equal(label_codes(["b", "a", "c", "a"], ["c", "a", "b"]),
                                  [2, 1, 0, 1])


@pytest.fixture(scope="module")
def wrong_teacher():
    """A teacher that has classes 0 and 1 swapped: its labels are wrong on 2/3 of the rows."""
    X, y = make_blobs(300, centers=3, n_features=4, cluster_std=1.0, random_state=0)
    swapped = np.choose(y, [1, 0, 2])
    return X, y, LogisticRegression(max_iter=500).fit(X, swapped)


def test_labels_move_the_ensemble_away_from_a_wrong_teacher(wrong_teacher):
    X, y, teacher = wrong_teacher
    assert (teacher.predict(X) == y).mean() < 0.4
    scores = {}
    for w in (0.0, 0.9):
        clf = BDistilClassifier(teacher, [MLPStudent((8,))], n_estimators=3, max_epochs=20,
                                label_weight=w, gamma=-1.0, random_state=0).fit(X, y)
        scores[w] = clf.score(X, y)
    assert scores[0.0] < 0.4          # distilling the teacher alone copies its mistakes
    assert scores[0.9] > 0.9          # mostly the labels: right where the teacher is wrong


def test_without_labels_label_weight_changes_nothing(wrong_teacher):
    X, _, teacher = wrong_teacher
    fits = [BDistilClassifier(teacher, [MLPStudent((4,))], n_estimators=2, max_epochs=3,
                              label_weight=w, random_state=0).fit(X) for w in (0.0, 1.0)]
    np.testing.assert_array_equal(fits[0].decision_function(X), fits[1].decision_function(X))
    np.testing.assert_array_equal(fits[0].train_loss_, fits[1].train_loss_)


def test_label_weight_out_of_range_is_a_clear_error(wrong_teacher):
    X, y, teacher = wrong_teacher
    with pytest.raises(ValueError, match="label_weight"):
        BDistilClassifier(teacher, label_weight=1.5).fit(X, y)
