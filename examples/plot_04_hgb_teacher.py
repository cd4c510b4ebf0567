"""
===============================================
A gradient-boosted trees teacher
===============================================

The teacher does not have to be a neural network: any fitted classifier with
``predict_proba`` or ``decision_function`` can be distilled into torch
students. Here the teacher is a
:class:`~sklearn.ensemble.HistGradientBoostingClassifier`, and the transfer
set is the training set plus perturbed copies of it, labelled by the teacher
alone: distillation needs no labels.
"""

# %%
# The teacher
# -----------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from sklearn_bdistil import BDistilClassifier, MLPStudent
from sklearn_bdistil.plotting import CostCurveDisplay

X, y = make_classification(n_samples=3000, n_features=20, n_informative=10,
                           n_classes=3, n_clusters_per_class=2, class_sep=1.5,
                           random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
teacher = HistGradientBoostingClassifier(max_iter=100, random_state=0)
teacher.fit(X_train, y_train)
print(f"teacher: {teacher.n_iter_} boosting rounds x {teacher.n_trees_per_iteration_} "
      f"trees, test accuracy {teacher.score(X_test, y_test):.3f}")

# %%
# A larger, unlabelled transfer set
# ---------------------------------
# The distilled logits are ``log(predict_proba)``, centred per row. Extra
# rows near the training data show the students more of the teacher's
# decision function; their labels come from the teacher, so ``y`` is not
# passed to ``fit``.
rng = np.random.default_rng(0)
X_transfer = np.vstack([X_train, X_train + 0.3 * rng.standard_normal(X_train.shape)])

# %%
# Distil
# ------
# A tree teacher's cost is counted in comparisons along a row's expected path
# (1 FLOP each, plus one addition per tree), so the cost axis is relative to
# the teacher. A comparison is cheaper than a multiply-add but a tree's memory
# lookups are not: read the ratio as an order of magnitude.
clf = BDistilClassifier(teacher, [MLPStudent((8,)), MLPStudent((32,))],
                        n_estimators=5, max_epochs=10, batch_size=128, random_state=0)
clf.fit(X_transfer)
print("teacher_cost_:", clf.teacher_cost_)
print("students used at each stage:", clf.student_indices_)

disp = CostCurveDisplay.from_estimator(clf, X_test, y_test, name="B-DISTIL")
disp.ax_.set_title("HistGradientBoosting teacher, MLP students")
plt.show()

# %%
# On this synthetic data (Gaussian clusters, which suit smooth models) the
# larger prefixes even score a little higher on the test set than the trees they
# copy. That is a property of the data, not something to expect in general.

# %%
# The boosted trees have staged predictions of their own. Their accuracy
# after a few numbers of rounds, for reference (``teacher_cost_`` counts all
# of its rounds):
for k, y_pred in enumerate(teacher.staged_predict(X_test), start=1):
    if k in (1, 5, 20, teacher.n_iter_):
        print(f"trees after {k:3d} rounds: accuracy {(y_pred == y_test).mean():.3f}")
print(f"teacher: {clf.teacher_cost_:.0f} FLOPs/row; B-DISTIL prefixes: "
      f"{np.round(clf.cumulative_costs_).astype(int).tolist()}")

# %%
# Early exit on the decision margin
# ---------------------------------
# ``confidence="margin"`` stops a row once the gap between its two largest
# ensemble logits reaches the threshold.
for threshold in (1.0, 2.0, 4.0):
    y_pred, n_used = clf.predict_early_exit(X_test, threshold=threshold,
                                            confidence="margin")
    print(f"margin >= {threshold}: accuracy {(y_pred == y_test).mean():.3f}, "
          f"{clf.cumulative_costs_[n_used - 1].mean():.0f} FLOPs/row on average")
