"""
===================================================
Accuracy against cost: one ensemble or many models
===================================================

Progressive distillation gives a whole accuracy-vs-cost curve from one fit:
every prefix of the ensemble is a classifier. The usual alternative is to
distil one student per budget, independently, and pick the one that fits at
run time. This example draws both curves, and the curve of per-row early exit,
on one plot with :class:`~sklearn_bdistil.plotting.CostCurveDisplay`.
"""

# %%
# A teacher on handwritten digits
# -------------------------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_bdistil import BDistilClassifier, MLPStudent, early_exit_curve
from sklearn_bdistil.plotting import CostCurveDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
teacher = MLPClassifier((256,), learning_rate_init=0.01, max_iter=300, random_state=0)
teacher.fit(X_train, y_train)
teacher_accuracy = teacher.score(X_test, y_test)
print(f"teacher accuracy {teacher_accuracy:.3f}")

# %%
# One staged ensemble
# -------------------
clf = BDistilClassifier(teacher, [MLPStudent((8,)), MLPStudent((16,))],
                        n_estimators=6, max_epochs=20, batch_size=64, random_state=0)
clf.fit(X_train)
print(f"{clf.n_estimators_} stages, {clf.cumulative_costs_[-1]:.0f} FLOPs/row in all "
      f"(the teacher: {clf.teacher_cost_:.0f})")

# %%
# The baseline: independently distilled students
# ----------------------------------------------
# One ordinary distilled student per size: a one-stage fit without the
# barrier term is plain knowledge distillation of that student. At run time
# the device would load the largest student that fits its budget.
sizes = [2, 4, 8, 16, 32]
baseline_cost, baseline_accuracy = [], []
for h in sizes:
    single = BDistilClassifier(teacher, [MLPStudent((h,))], n_estimators=1,
                               barrier_strength=0.0, learning_rate=1.0,
                               max_epochs=20, batch_size=64, random_state=0)
    single.fit(X_train)
    baseline_cost.append(single.cumulative_costs_[-1])
    baseline_accuracy.append(single.score(X_test, y_test))

# %%
# Per-row early exit
# ------------------
# :func:`~sklearn_bdistil.early_exit_curve` evaluates every student once and
# reports, for a range of confidence thresholds, the accuracy and the *mean*
# cost per row when each row stops at the first stage that is confident enough.
curve = early_exit_curve(clf, X_test, y_test)

# %%
# All three on one plot
# ---------------------
# Displays drawn on the same ``ax`` overlay their curves. The x axis is cost
# as a fraction of the teacher's FLOPs per row.
fig, ax = plt.subplots(figsize=(7, 4.5))
CostCurveDisplay.from_estimator(clf, X_test, y_test, show_agreement=False,
                                name="B-DISTIL prefixes", ax=ax)
CostCurveDisplay.from_staged(baseline_cost, baseline_accuracy,
                             teacher_cost=clf.teacher_cost_,
                             name="independent students", ax=ax)
CostCurveDisplay(curve.mean_cost, curve.accuracy, teacher_cost=clf.teacher_cost_,
                 name="B-DISTIL early exit").plot(ax=ax, marker=".")
ax.axhline(teacher_accuracy, color="gray", linestyle=":", label="teacher")
ax.legend(loc="lower right")
ax.set_title("Digits: test accuracy against cost per row")
plt.show()

# %%
# The independent students cover only the budgets in the list, and each
# budget needs its own model on the device. The ensemble serves all its
# prefixes from one set of weights, so a device can stop after any stage, and
# early exit spends more only on the rows that need it. Which curve is higher
# at a given cost depends on the data and on the training budget: one run on
# a small data set is an illustration, not a benchmark.
