"""warm_start, checkpoints and resuming, reproducibility, numerics."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from torch import nn

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, EarlyStoppingWarning, MLPStudent

STUDENTS = [MLPStudent((4,)), MLPStudent((8,))]


def _fit(X, **params):
    teacher = params.pop("teacher", None) or LogisticRegression(max_iter=500).fit(*_xy(X))
    students = params.pop("students", STUDENTS)
    return BDistilClassifier(teacher, students, **{**FAST, "gamma": -1.0, **params}).fit(X)


def _xy(X):
    # a fixed labelling of the fixture rows, so every teacher below is the same
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)


def _assert_same_stages(a, b, n):
    """The first ``n`` stages of the rounds are the same (the fitted model is theirs
    after the final corrective step, which depends on how many there are), and so
    is the fitted model where both have ``n`` stages."""
    np.testing.assert_array_equal(a.estimator_weights_[:n], b.estimator_weights_[:n])
    pairs = [(ra.module, rb.module) for ra, rb in
             zip(a._round_records[:n], b._round_records[:n], strict=True)]
    if a.n_estimators_ == b.n_estimators_ == n:
        pairs += list(zip(a.estimators_, b.estimators_, strict=True))
    for ma, mb in pairs:
        for pa, pb in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True):
            assert torch.equal(pa, pb)


# ----------------------------------------------------------------- warm start


def test_warm_start_adds_stages_and_keeps_the_prefix(data):
    X, _ = data
    # (the final corrective step would correct the first stages again, together
    # with the new ones: tests/test_corrective.py)
    clf = _fit(X, n_estimators=2, warm_start=True, final_corrective_epochs=0)
    first = [m for m in clf.estimators_]
    prefix = clf.decision_function(X, n_stages=2)
    clf.set_params(n_estimators=4).fit(X)
    assert clf.n_estimators_ == 4
    assert clf.estimators_[:2] == first  # the very same modules
    np.testing.assert_array_equal(clf.decision_function(X, n_stages=2), prefix)
    # and the result is the fit of four stages in one go
    _assert_same_stages(clf, _fit(X, n_estimators=4, final_corrective_epochs=0), 4)


def test_without_warm_start_a_refit_starts_over(data):
    X, _ = data
    clf = _fit(X, n_estimators=2)
    first = clf.estimators_[0]
    clf.fit(X)
    assert clf.estimators_[0] is not first


def test_warm_start_checks_what_it_continues(data):
    X, _ = data
    clf = _fit(X, n_estimators=3, warm_start=True)
    with pytest.raises(ValueError, match="must be at least the 3 stages"):
        clf.set_params(n_estimators=2).fit(X)
    clf.set_params(n_estimators=4)
    with pytest.raises(ValueError, match="warm_start=True continues"):
        clf.set_params(teacher=LogisticRegression().fit(X[:, :6], _xy(X)[1])).fit(X[:, :6])


def test_warm_start_refuses_another_connection(data):
    """A kept GRU stage run without its state would give logits predict never does."""
    X, _ = data
    clf = _fit(X, n_estimators=2, warm_start=True, connection="gru")
    with pytest.raises(ValueError, match="connection='gru', but connection is now 'none'"):
        clf.set_params(n_estimators=3, connection="none").fit(X)
    clf.set_params(connection="gru").fit(X)
    assert clf.n_estimators_ == 3


# ----------------------------------------------------------------- checkpoints


def test_checkpoint_resume_continues_where_the_fit_stopped(data, tmp_path):
    X, _ = data
    first = _fit(X, n_estimators=2, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "meta.json", "stage_0000.json", "stage_0000.pt", "stage_0001.json", "stage_0001.pt"]
    resumed = _fit(X, n_estimators=4, checkpoint_dir=tmp_path)
    assert resumed.n_estimators_ == 4
    _assert_same_stages(resumed, first, 2)
    _assert_same_stages(resumed, _fit(X, n_estimators=4), 4)
    assert (tmp_path / "stage_0003.pt").exists()


def test_checkpoint_of_another_problem_is_refused(data, tmp_path):
    X, _ = data
    _fit(X, n_estimators=1, checkpoint_dir=tmp_path)
    teacher = LogisticRegression(max_iter=500).fit(X[:, :5], _xy(X)[1])
    with pytest.raises(ValueError, match="holds a fit with n_features_in=8"):
        _fit(X[:, :5], teacher=teacher, n_estimators=1, checkpoint_dir=tmp_path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_checkpoint_of_other_data_or_settings_is_refused(data, tmp_path):
    """As in a search whose folds share one directory: never resume another fit's stages."""
    X, _ = data
    _fit(X, n_estimators=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds a fit on other data"):
        _fit(X[:200], n_estimators=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="lr=0.02 there, 0.05 here"):
        _fit(X, n_estimators=2, lr=0.05, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="lr_schedule='cosine' there, 'constant' here"):
        _fit(X, n_estimators=2, lr_schedule="constant", checkpoint_dir=tmp_path)
    # what does not change the stages may differ
    assert _fit(X, n_estimators=2, verbose=0, predict_batch_size=7,
                checkpoint_dir=tmp_path).n_estimators_ == 2


def test_checkpoint_tells_lambda_students_apart(data, tmp_path):
    X, _ = data

    def ladder(act):
        return [lambda n, c: nn.Sequential(nn.Linear(n, 4), act(), nn.Linear(4, c))]

    _fit(X, n_estimators=1, checkpoint_dir=tmp_path, students=ladder(nn.ReLU))
    with pytest.raises(ValueError, match="holds a fit with students="):
        _fit(X, n_estimators=2, checkpoint_dir=tmp_path, students=ladder(nn.Tanh))
    resumed = _fit(X, n_estimators=2, checkpoint_dir=tmp_path, students=ladder(nn.ReLU))
    assert resumed.n_estimators_ == 2


def test_checkpoint_loading_refuses_pickled_code(data, tmp_path):
    X, _ = data
    _fit(X, n_estimators=1, checkpoint_dir=tmp_path)
    torch.save({"weight": _Payload()}, tmp_path / "stage_0000.pt")
    with pytest.raises(ValueError, match="cannot be loaded as tensors"):
        _fit(X, n_estimators=2, checkpoint_dir=tmp_path)


SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn_bdistil import BDistilClassifier, MLPStudent

    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_classes=3,
                               n_clusters_per_class=1, random_state=0)
    teacher = LogisticRegression(max_iter=500).fit(X, y)
    torch.set_num_threads(1)
    BDistilClassifier(teacher, [MLPStudent((8,))], n_estimators=int(sys.argv[2]),
                      max_epochs=int(sys.argv[3]), batch_size=32, gamma=-1.0,
                      random_state=0, checkpoint_dir=sys.argv[1]).fit(X)
""")


def test_a_killed_fit_resumes_in_a_new_process(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), "50", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (ckpt / "stage_0001.json").exists():
            assert proc.poll() is None, "the fit ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint written in time"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = sorted(p.name for p in ckpt.glob("stage_*.json"))
    assert 2 <= len(saved) < 50
    # resume in a new process, asking for one more stage than was saved
    n = len(saved) + 1
    subprocess.run([sys.executable, str(script), str(ckpt), str(n), "10"], check=True,
                   capture_output=True, timeout=300)
    assert len(list(ckpt.glob("stage_*.json"))) == n
    assert not list(ckpt.glob("*.tmp"))


def test_a_stage_callback_can_stop_the_fit(data):
    X, _ = data
    seen = []

    def stop_after_two(estimator, info):
        seen.append((info["stage"], info["cumulative_flops"]))
        return info["stage"] == 2

    from sklearn_bdistil import FitInterruptedWarning

    with pytest.warns(FitInterruptedWarning, match="stage_callback asked to stop after stage 2"):
        clf = _fit(X, n_estimators=5, stage_callback=stop_after_two)
    assert clf.n_estimators_ == 2 and [s for s, _ in seen] == [1, 2]
    assert seen[-1][1] == clf.cumulative_costs_[-1]


def test_an_error_in_the_callback_keeps_the_completed_stages(data):
    X, _ = data
    clf = BDistilClassifier(LogisticRegression(max_iter=500).fit(*_xy(X)), STUDENTS,
                            **{**FAST, "gamma": -1.0, "n_estimators": 5})
    seen = {}

    def fail_at_three(estimator, info):
        seen[info["stage"]] = estimator.predict_proba(X)
        if info["stage"] == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        clf.set_params(stage_callback=fail_at_three).fit(X)
    assert clf.n_estimators_ == 3
    np.testing.assert_array_equal(clf.predict_proba(X), seen[3])
    np.testing.assert_allclose(clf.predict_proba(X, n_stages=2), seen[2], rtol=1e-6)
    # and a warm start goes on from them
    clf.set_params(stage_callback=None, warm_start=True).fit(X)
    assert clf.n_estimators_ == 5


_SAVED = {}


def _save_prefix(estimator, info):  # module level: the estimator pickles with it
    _SAVED[info["stage"]] = pickle.dumps(estimator)


def test_a_prefix_saved_by_the_callback_can_be_continued(data):
    X, _ = data
    full = _fit(X, n_estimators=3, stage_callback=_save_prefix)
    prefix = pickle.loads(_SAVED[1])
    assert prefix.n_estimators_ == 1
    prefix.set_params(stage_callback=None, warm_start=True).fit(X)
    _assert_same_stages(prefix, full, 3)


# -------------------------------------------------------------- reproducibility


def test_random_state_is_left_untouched_and_a_seed_per_stage_is_drawn(data):
    X, _ = data
    rs = np.random.RandomState(5)
    clf = _fit(X, n_estimators=2, random_state=rs)
    assert clf.random_state is rs
    a = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(a.predict_proba(X), clf.predict_proba(X))


def test_fit_leaves_the_global_random_states_alone(data):
    """Stages are seeded from random_state; the caller's torch and NumPy states
    are as they were (and no GPU seed is queued, see _modes.seeded)."""
    import torch

    X, _ = data
    torch.manual_seed(11)
    np.random.seed(11)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = _fit(X, n_estimators=2, random_state=0)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    torch.manual_seed(99)  # another global state: the same model
    b = _fit(X, n_estimators=2, random_state=0)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


# ------------------------------------------------------------------- numerics


class _FixedProba(ClassifierMixin, BaseEstimator):
    """A fitted 'teacher' whose probabilities are given by a function of X."""

    def __init__(self, proba=None):
        self.proba = proba

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return self.proba(X)


def _check_finite(clf, X):
    assert np.isfinite(clf.decision_function(X)).all()
    assert np.isfinite(clf.predict_proba(X)).all()
    assert np.isfinite(clf.estimator_weights_).all()
    assert np.isfinite(clf.train_loss_).all()


def test_teacher_certainties_of_exactly_zero_and_one(data):
    X, y = data
    teacher = _FixedProba(lambda Z: np.eye(3)[(Z[:, 0] > 0).astype(int)]).fit(X, y)
    clf = _fit(X, teacher=teacher)
    _check_finite(clf, X)
    assert (clf.predict(X) == teacher.predict_proba(X).argmax(1)).mean() > 0.8


def test_huge_teacher_logits(data):
    X, _ = data
    torch.manual_seed(0)
    module = nn.Linear(8, 3)
    with torch.no_grad():
        module.weight.mul_(1e4)
    clf = _fit(X, teacher=module)
    _check_finite(clf, X)


def test_constant_teacher(data):
    X, y = data
    teacher = _FixedProba(lambda Z: np.tile([0.2, 0.5, 0.3], (len(Z), 1))).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        clf = _fit(X, teacher=teacher)
    _check_finite(clf, X)
    assert (clf.predict(X) == 1).all()


def test_a_class_with_a_single_row(data):
    X, y = data
    y = y.copy()
    y[y == 2] = 1
    y[0] = 2
    clf = BDistilClassifier(LogisticRegression(max_iter=500), STUDENTS, **FAST).fit(X, y)
    _check_finite(clf, X)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_input_dtypes(data, teacher, dtype):
    X, _ = data
    Xd = (X * (100 if dtype == np.int64 else 1)).astype(dtype)
    clf = BDistilClassifier(teacher, STUDENTS, **FAST).fit(Xd)
    _check_finite(clf, Xd)


def test_huge_eta(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, STUDENTS, **{**FAST, "eta": 1e8}).fit(X)
    _check_finite(clf, X)
    assert np.isfinite(clf.edges_).all()


class _ExplodingStudent(nn.Module):
    """Its training loss is NaN for the first ``bad`` students built."""

    built = 0
    bad = 1

    def __init__(self, n_in, n_out):
        super().__init__()
        type(self).built += 1
        self.explode = type(self).built <= self.bad
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        out = self.linear(x)
        return out * float("nan") if (self.training and self.explode) else out


def test_a_diverging_student_is_retrained_with_a_smaller_lr(data, teacher, capsys):
    X, _ = data
    _ExplodingStudent.built, _ExplodingStudent.bad = 0, 1
    clf = BDistilClassifier(teacher, [_ExplodingStudent], verbose=1,
                            **{**FAST, "n_estimators": 1}).fit(X)
    assert clf.n_estimators_ == 1
    assert "non-finite loss with lr=0.02" in capsys.readouterr().out
    _check_finite(clf, X)


class _Silent(nn.Module):
    """Outputs zeros: its edge is 0, below any positive gamma."""

    built = 0

    def __init__(self, n_in, n_out):
        super().__init__()
        type(self).built += 1
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        return 0.0 * self.linear(x)


def test_a_diverging_class_keeps_the_escalation_made_before_it(data, teacher):
    """Round 1: the cheapest class fails the edge, the next diverges; round 2 must not
    go back to the cheapest class (never back to a cheaper class)."""
    X, _ = data
    _Silent.built = 0
    _ExplodingStudent.built, _ExplodingStudent.bad = 0, 10**9
    with pytest.warns(EarlyStoppingWarning, match="2 rounds in a row"):
        clf = BDistilClassifier(teacher, [_Silent, _ExplodingStudent, MLPStudent((8,))],
                                **{**FAST, "gamma": 0.1, "n_iter_no_change": 2}).fit(X)
    assert clf.n_estimators_ == 0
    assert _Silent.built == 1  # trained in round 1 only (the up-front check skips rung 0)


def test_a_student_that_always_diverges_is_never_added(data, teacher):
    X, _ = data
    _ExplodingStudent.built, _ExplodingStudent.bad = 0, 10**9
    with pytest.warns(EarlyStoppingWarning, match="rounds in a row"):
        clf = BDistilClassifier(teacher, [_ExplodingStudent], **FAST).fit(X)
    assert clf.n_estimators_ == 0


def test_checkpoint_resume_respects_n_estimators_and_names_functions(data, tmp_path):
    import functools

    X, _ = data
    factory = functools.partial(nn.Linear, bias=False)
    a = _fit(X, n_estimators=3, checkpoint_dir=tmp_path, random_state=0)
    meta = (tmp_path / "meta.json").read_text()
    assert " at 0x" not in meta  # descriptions survive a new process
    fewer = _fit(X, n_estimators=2, checkpoint_dir=tmp_path)
    assert fewer.n_estimators_ == 2
    _assert_same_stages(fewer, a, 2)
    BDistilClassifier(LogisticRegression(max_iter=500).fit(*_xy(X)), [factory],
                      **{**FAST, "gamma": -1.0, "checkpoint_dir": tmp_path / "p"}).fit(X)
    assert "functools.partial" not in (tmp_path / "p" / "meta.json").read_text()


def test_warm_start_into_a_new_checkpoint_directory_writes_every_stage(data, tmp_path):
    X, _ = data
    clf = _fit(X, n_estimators=2, warm_start=True)
    clf.set_params(n_estimators=3, checkpoint_dir=tmp_path).fit(X)
    assert sorted(p.name for p in tmp_path.glob("stage_*.pt")) == [
        "stage_0000.pt", "stage_0001.pt", "stage_0002.pt"]
    resumed = _fit(X, n_estimators=3, checkpoint_dir=tmp_path)
    _assert_same_stages(resumed, clf, 3)
    # each stage carries the random state after it, not the warm start's: a resume
    # from stage 1 alone (e.g. after deleting damaged later files) repeats the fit
    for k in (1, 2):
        for suffix in (".pt", ".json"):
            (tmp_path / f"stage_{k:04d}{suffix}").unlink()
    resumed = _fit(X, n_estimators=3, checkpoint_dir=tmp_path)
    _assert_same_stages(resumed, clf, 3)


def test_warm_start_into_a_directory_of_another_fit_is_refused(data, tmp_path):
    X, _ = data
    _fit(X, n_estimators=3, checkpoint_dir=tmp_path, random_state=1)
    clf = _fit(X, n_estimators=2, warm_start=True, random_state=0)
    with pytest.raises(ValueError, match="holds a fit with other training settings"):
        clf.set_params(n_estimators=3, checkpoint_dir=tmp_path).fit(X)
    # its own directory: continued, and stages past the warm start are redone
    own = tmp_path / "own"
    clf = _fit(X, n_estimators=4, checkpoint_dir=own, random_state=0)
    back = _fit(X, n_estimators=2, warm_start=True, random_state=0)
    back.set_params(n_estimators=3, checkpoint_dir=own).fit(X)
    assert sorted(p.name for p in own.glob("stage_*.pt")) == [
        "stage_0000.pt", "stage_0001.pt", "stage_0002.pt"]
    _assert_same_stages(back, clf, 3)


def test_corrupt_checkpoint_files_are_clear_errors(data, tmp_path):
    X, _ = data
    _fit(X, n_estimators=1, checkpoint_dir=tmp_path)
    (tmp_path / "stage_0000.json").write_text("{not json")
    with pytest.raises(ValueError, match="is unreadable"):
        _fit(X, n_estimators=2, checkpoint_dir=tmp_path)


def test_checkpoint_of_other_groups_is_refused(data, tmp_path):
    X, _ = data
    teacher = LogisticRegression(max_iter=500).fit(*_xy(X))
    params = {**FAST, "gamma": -1.0, "n_estimators": 2, "checkpoint_dir": tmp_path}
    groups = np.repeat(np.arange(8), len(X) // 8)
    BDistilClassifier(teacher, STUDENTS, **params).fit(X, groups=groups)
    with pytest.raises(ValueError, match="holds a fit on other data"):
        BDistilClassifier(teacher, STUDENTS, **params).fit(X, groups=groups[::-1])
    resumed = BDistilClassifier(teacher, STUDENTS, **params).fit(X, groups=groups)
    assert resumed.n_estimators_ == 2
