"""
==========================================
Quick start: a staged sensor classifier
==========================================

Distil a classifier of smartwatch exercise recordings into a staged ensemble
of tiny 1-D CNN students, then predict with any prefix: a fixed number of
stages, a cost budget, or a per-row early exit.

The data ship with the PyPI package ``seglearn`` (``pip install seglearn``):
six inertial channels at 50 Hz from 10 subjects doing 7 shoulder exercises.
To keep this example fast, it uses non-overlapping 1.3 s windows, a small
teacher and few training epochs.
"""

# %%
# Load the windows and split by subject
# -------------------------------------
# :func:`~sklearn_bdistil.datasets.load_watch` returns one window per row,
# flattened channel-major (``X.reshape(n, n_channels, width)`` recovers the
# windows). Windows of one recording are alike, so the split is by subject:
# subjects 1-7 train, the unseen subjects 8-10 test.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.neural_network import MLPClassifier

from sklearn_bdistil import BDistilClassifier, Conv1dStudent
from sklearn_bdistil.datasets import load_watch
from sklearn_bdistil.plotting import CostCurveDisplay

data = load_watch(window=64, step=64)
n, c = data.data.shape[0], data.n_channels
train = data.groups <= 7
test = ~train

W = data.data.reshape(n, c, -1)  # (windows, channels, samples)
mean = W[train].mean(axis=(0, 2), keepdims=True)
std = W[train].std(axis=(0, 2), keepdims=True)
X = ((W - mean) / std).reshape(n, -1)  # standardise each channel, flatten back
y = data.target
print(f"{n} windows of {c} channels x {X.shape[1] // c} samples; "
      f"{train.sum()} for training, {test.sum()} for testing")

# %%
# The teacher
# -----------
# Any fitted classifier with ``predict_proba`` or ``decision_function`` will
# do. Here it is a multi-layer perceptron; its cost per row is counted
# automatically.
teacher = MLPClassifier((128,), early_stopping=True, random_state=0)
teacher.fit(X[train], y[train])
print(f"teacher accuracy on unseen subjects: {teacher.score(X[test], y[test]):.3f}")

# %%
# Distil it
# ---------
# ``students`` is the escalation ladder, cheapest first. Labels are not
# needed: the teacher labels the transfer set.
students = [Conv1dStudent(n_channels=c, n_filters=(8,)),
            Conv1dStudent(n_channels=c, n_filters=(8, 16))]
clf = BDistilClassifier(teacher, students, n_estimators=4, max_epochs=5,
                        batch_size=64, random_state=0, verbose=1)
clf.fit(X[train])

# %%
# Every prefix is a classifier
# ----------------------------
# ``staged_predict`` yields the prediction after each stage and runs each
# student once. ``cumulative_costs_`` is the FLOPs per row of each prefix, and
# ``stage_latency_`` the measured seconds per row of each stage on this CPU,
# one row at a time (column 0) and in batches of 1024 (column 1).
for k, y_pred in enumerate(clf.staged_predict(X[test]), start=1):
    print(f"stage {k}: {clf.cumulative_costs_[k - 1]:7.0f} FLOPs/row "
          f"({100 * clf.cumulative_costs_[k - 1] / clf.teacher_cost_:4.1f}% of the teacher), "
          f"{1e6 * clf.stage_latency_[k - 1, 0]:5.0f} us/row at batch 1, "
          f"accuracy {(y_pred == y[test]).mean():.3f}")

# %%
# The accuracy-vs-cost curve
# --------------------------
# :class:`~sklearn_bdistil.plotting.CostCurveDisplay` draws accuracy and
# agreement with the teacher against cumulative cost, as a fraction of the
# teacher's FLOPs.
disp = CostCurveDisplay.from_estimator(clf, X[test], y[test], name="B-DISTIL")
disp.ax_.set_title("Watch data, unseen subjects")
plt.show()

# %%
# Distillation fits the teacher's outputs on the transfer set, so agreement
# with the teacher (dashed) is what the stages improve; accuracy on new
# subjects follows it only loosely. This example trains each student for 5
# epochs on 1.3 s windows to stay fast; ``python -m sklearn_bdistil demo``
# trains a stronger teacher and longer students on the same data.

# %%
# Predicting under a budget
# -------------------------
# ``max_cost=`` uses the longest prefix whose cumulative cost fits the budget
# (FLOPs per row). ``predict_early_exit`` instead stops each row at the first
# stage whose top class probability reaches ``threshold``, so confident rows
# cost less.
budget = clf.cumulative_costs_[1]
print("two-stage budget:", clf.predict(X[test][:8], max_cost=budget))

y_pred, n_used = clf.predict_early_exit(X[test], threshold=0.9)
cost = clf.cumulative_costs_[n_used - 1].mean()
print(f"early exit: accuracy {(y_pred == y[test]).mean():.3f} "
      f"at {cost:.0f} FLOPs/row on average; stages used per row: "
      f"{np.bincount(n_used)[1:].tolist()}")
