import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from conftest import FAST  # noqa: E402
from sklearn_bdistil import BDistilClassifier, MLPStudent  # noqa: E402
from sklearn_bdistil.plotting import CostCurveDisplay  # noqa: E402


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_from_estimator_draws_accuracy_and_agreement(data, teacher):
    import matplotlib.pyplot as plt
    from sklearn.neural_network import MLPClassifier

    X, y = data
    mlp = MLPClassifier((32,), max_iter=300, random_state=0).fit(X, y)
    clf = BDistilClassifier(mlp, [MLPStudent((4,))], **FAST).fit(X)
    disp = CostCurveDisplay.from_estimator(clf, X, y, name="b-distil")
    x = disp.line_.get_xdata()
    np.testing.assert_allclose(x, clf.cumulative_costs_ / clf.teacher_cost_)
    np.testing.assert_allclose(disp.line_.get_ydata(),
                               [(p == y).mean() for p in clf.staged_predict(X)])
    np.testing.assert_allclose(disp.agreement_line_.get_ydata(),
                               [(p == mlp.predict(X)).mean() for p in clf.staged_predict(X)])
    assert "fraction of the teacher" in disp.ax_.get_xlabel()
    # overlay a baseline on the same axes
    base = CostCurveDisplay.from_staged(clf.cumulative_costs_, [0.5] * clf.n_estimators_,
                                        teacher_cost=clf.teacher_cost_, name="baseline",
                                        ax=disp.ax_)
    assert base.ax_ is disp.ax_
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert "b-distil" in labels and "baseline" in labels
    plt.close("all")


class _Uncounted(ClassifierMixin, BaseEstimator):
    """A classifier from outside scikit-learn (nearest class mean)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_proba(self, X):
        d = -((np.asarray(X)[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def test_without_teacher_cost_the_axis_is_flops(data, teacher):
    import matplotlib.pyplot as plt

    X, y = data
    # a teacher whose FLOPs are not counted: not a family teacher_flops knows
    clf = BDistilClassifier(_Uncounted().fit(X, y), [MLPStudent((4,))], **FAST).fit(X)
    assert clf.teacher_cost_ is None
    disp = CostCurveDisplay.from_estimator(clf, X, y, show_agreement=False)
    assert disp.agreement_line_ is None
    np.testing.assert_allclose(disp.line_.get_xdata(), clf.cumulative_costs_)
    assert "FLOPs per row" in disp.ax_.get_xlabel()
    plt.close("all")


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="one length"):
        CostCurveDisplay([1, 2], [0.5])


def test_labels_and_line_keywords(data, teacher):
    import matplotlib.pyplot as plt

    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    disp = CostCurveDisplay.from_estimator(clf, X, y, label="mine", alpha=0.5)
    assert disp.line_.get_label() == "mine"
    assert disp.line_.get_alpha() == disp.agreement_line_.get_alpha() == 0.5
    disp.plot(name="again")  # as scikit-learn's Displays
    assert disp.line_.get_label() == "again"
    assert disp.agreement_line_.get_label() == "again (agreement with teacher)"
    plt.close("all")


def test_dataframe_reaches_the_teacher_and_unfitted_teacher_is_named(data):
    import matplotlib.pyplot as plt
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    teacher = make_pipeline(make_column_transformer((StandardScaler(), ["f0", "f1", "f2"])),
                            LogisticRegression(max_iter=500)).fit(df, y)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(df)
    disp = CostCurveDisplay.from_estimator(clf, df, y)
    np.testing.assert_allclose(disp.agreement_line_.get_ydata(),
                               [(p == teacher.predict(df)).mean()
                                for p in clf.staged_predict(df)])

    G = teacher.decision_function(df)
    unfitted = BDistilClassifier(LogisticRegression(), [MLPStudent((4,))], **FAST).fit(
        X, teacher_logits=G)
    with pytest.raises(ValueError, match="the teacher is not fitted"):
        CostCurveDisplay.from_estimator(unfitted, X, y)
    CostCurveDisplay.from_estimator(unfitted, X, y, show_agreement=False)
    plt.close("all")


@pytest.mark.parametrize("bad", [0, -5.0])
def test_teacher_cost_must_be_positive(bad):
    with pytest.raises(ValueError, match="teacher_cost must be positive"):
        CostCurveDisplay([1, 2], [0.5, 0.6], teacher_cost=bad)


def test_displays_on_one_ax_share_a_unit_and_keep_their_labels():
    import matplotlib.pyplot as plt

    relative = CostCurveDisplay([10, 20], [0.8, 0.9], agreement=[0.9, 0.95],
                                teacher_cost=100, teacher_accuracy=0.92, name="a").plot()
    ax = relative.ax_
    with pytest.raises(ValueError, match="both units on one ax"):
        CostCurveDisplay([10, 20], [0.7, 0.8], name="flops").plot(ax=ax)
    # a second display without agreement keeps the y label; the teacher line is drawn once
    CostCurveDisplay([15, 30], [0.75, 0.85], teacher_cost=100, teacher_accuracy=0.92,
                     name="b").plot(ax=ax)
    assert ax.get_ylabel() == "accuracy"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels.count("teacher accuracy") == 1 and "b" in labels
    assert "a (agreement with teacher)" in labels  # one legend for both y axes
    plt.close("all")


def test_measured_latency_on_the_x_axis():
    import matplotlib.pyplot as plt

    label = "cumulative latency (µs per row, compiled C)"
    disp = CostCurveDisplay.from_staged([1.5, 3.0, 4.5], [0.8, 0.85, 0.9], name="C",
                                        cost_label=label)
    assert disp.ax_.get_xlabel() == label
    assert disp.line_.get_xdata().tolist() == [1.5, 3.0, 4.5]
    CostCurveDisplay.from_staged([2.0, 4.0], [0.8, 0.9], name="ONNX Runtime",
                                 cost_label=label, ax=disp.ax_)
    with pytest.raises(ValueError, match="both units on one ax"):
        CostCurveDisplay([10, 20], [0.7, 0.8], name="flops").plot(ax=disp.ax_)
    plt.close("all")


def test_agreement_has_its_own_axis_and_the_legend_covers_no_curve():
    """On one y axis agreement (near 1) squashed the accuracy curve; a legend inside
    the axes covered the curve's last stages and the teacher line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    disp = CostCurveDisplay([10, 20, 30, 40], [0.70, 0.76, 0.79, 0.80],
                            agreement=[0.90, 0.95, 0.98, 0.99], teacher_cost=100,
                            teacher_accuracy=0.79, name="b-distil").plot()
    assert disp.agreement_ax_ is not None and disp.agreement_ax_ is not disp.ax_
    assert disp.agreement_line_.axes is disp.agreement_ax_ and disp.line_.axes is disp.ax_
    low, high = disp.ax_.get_ylim()
    assert high - low < 0.2  # the accuracy's own range, not stretched to the agreement
    disp.figure_.canvas.draw()
    legend = disp.ax_.get_legend().get_window_extent()
    axes = disp.ax_.get_window_extent()
    assert legend.y1 <= axes.y0  # below the axes, over nothing
    fig_box = disp.figure_.bbox
    assert legend.y0 >= fig_box.y0 - 1  # and inside the figure
    plt.close("all")


def test_a_classifier_with_another_metric_draws_the_teacher_in_that_metric(data, teacher):
    from sklearn.metrics import balanced_accuracy_score

    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    disp = CostCurveDisplay.from_estimator(clf, X, y, metric=balanced_accuracy_score)
    assert disp.ax_.get_ylabel() == "balanced accuracy score"
    np.testing.assert_allclose(disp.accuracy, [balanced_accuracy_score(y, p)
                                               for p in clf.staged_predict(X)])
    assert disp.teacher_accuracy == pytest.approx(balanced_accuracy_score(y, teacher.predict(X)))
    # agreement stays the share of predictions equal to the teacher's
    assert disp.agreement[-1] == pytest.approx((clf.predict(X) == teacher.predict(X)).mean())
    assert disp.agreement_ax_.get_ylabel() == "agreement with the teacher (dashed)"
