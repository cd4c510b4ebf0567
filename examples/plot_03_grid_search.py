"""
=================================================
Tuning the ensemble with GridSearchCV
=================================================

:class:`~sklearn_bdistil.BDistilClassifier` is an ordinary scikit-learn
classifier, so its settings can be searched with
:class:`~sklearn.model_selection.GridSearchCV`. Two things are particular to
distillation:

* ``GridSearchCV`` clones the estimator, and a cloned teacher is an *unfitted*
  teacher. Wrapping the fitted teacher in
  :class:`~sklearn.frozen.FrozenEstimator` keeps it fitted in every clone.
* The score to select on is usually agreement with the teacher, or accuracy at
  the cost the device can afford, rather than the accuracy of the full
  ensemble.
"""

# %%
# A fitted teacher
# ----------------
import numpy as np
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_bdistil import BDistilClassifier, MLPStudent

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
teacher = MLPClassifier((256,), learning_rate_init=0.01, max_iter=300, random_state=0)
teacher.fit(X_train, y_train)

# %%
# The search
# ----------
# The grid covers the student size and the shrinkage ``learning_rate``.
# Passing the teacher's predictions as ``y`` makes the default score
# (accuracy) the *agreement* with the teacher. ``teacher_logits=`` is given
# once and sliced per fold like ``X``, so the teacher does not run again for
# every candidate.
G = np.log(np.clip(teacher.predict_proba(X_train), 1e-4, None))
G -= G.mean(axis=1, keepdims=True)  # what the package computes from predict_proba

ensemble = BDistilClassifier(FrozenEstimator(teacher), n_estimators=3, max_epochs=10,
                             batch_size=64, random_state=0)
param_grid = {
    "students": [[MLPStudent((8,))], [MLPStudent((16,))]],
    "learning_rate": [0.5, 1.0],
}
search = GridSearchCV(ensemble, param_grid, cv=2)
search.fit(X_train, teacher.predict(X_train), teacher_logits=G)

for params, score in zip(search.cv_results_["params"],
                         search.cv_results_["mean_test_score"], strict=True):
    ladder = [s.hidden_sizes for s in params["students"]]
    print(f"students={ladder!s:<9} learning_rate={params['learning_rate']:<4} "
          f"agreement {score:.3f}")
best_params = search.best_params_
print("best: students", [s.hidden_sizes for s in best_params["students"]],
      "learning_rate", best_params["learning_rate"])

# %%
# The teacher in every clone is the same fitted object, untouched by the search.
best = search.best_estimator_
print(best.teacher_.estimator is teacher)

# %%
# Selecting for a budget
# ----------------------
# A scorer can call the ensemble with ``n_stages=`` or ``max_cost=``. Here
# each candidate is scored on the accuracy of its first stage only, the
# prediction a device with the smallest budget would make.


def first_stage_accuracy(estimator, X, y):
    return float((estimator.predict(X, n_stages=1) == y).mean())


search = GridSearchCV(ensemble, {"eta": [0.5, 2.0]}, cv=2,
                      scoring=first_stage_accuracy)
search.fit(X_train, y_train, teacher_logits=G)
print("best eta for one stage:", search.best_params_["eta"],
      f"test accuracy {first_stage_accuracy(search.best_estimator_, X_test, y_test):.3f}")
