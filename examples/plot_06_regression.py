"""
=============================================
A staged regressor: distilling diamond prices
=============================================

:class:`~sklearn_bdistil.BDistilRegressor` runs the same boosting rounds as
the classifier with the squared error: each stage's student fits what the
ensemble still misses of the teacher's predictions (mixed with the targets,
when ``fit`` gets them), and every prefix is a regressor of its own.

The data are ggplot2's 53,940 diamonds, as shipped by the PyPI package
``plotnine`` (``pip install plotnine``; nothing is downloaded): the log price
from carat, the cut, colour and clarity grades and the dimensions. To keep
this example fast it trains on 8,000 of them.
"""

# %%
# A gradient-boosted trees teacher
# --------------------------------
import matplotlib.pyplot as plt
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from sklearn_bdistil import BDistilRegressor, MLPStudent
from sklearn_bdistil.datasets import load_diamonds
from sklearn_bdistil.plotting import CostCurveDisplay

data = load_diamonds()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, train_size=8000, test_size=8000, random_state=0)
teacher = HistGradientBoostingRegressor(max_iter=300, max_leaf_nodes=63,
                                        random_state=0).fit(X_train, y_train)
print(f"teacher: test R^2 {r2_score(y_test, teacher.predict(X_test)):.4f}")

# %%
# Distil it into a staged ensemble
# --------------------------------
# Students are tiny MLPs (their inputs are standardised inside them); the
# targets are given, so the rounds fit ``0.1 * teacher + 0.9 * y``.
reg = BDistilRegressor(teacher, [MLPStudent((8,)), MLPStudent((16,))], n_estimators=6,
                       max_epochs=15, random_state=0).fit(X_train, y_train)
print(f"teacher: {reg.teacher_cost_:,.0f} FLOPs per row")
for k, y_pred in enumerate(reg.staged_predict(X_test), start=1):
    print(f"{k} stages: R^2 {r2_score(y_test, y_pred):.4f} at "
          f"{reg.cumulative_costs_[k - 1] / reg.teacher_cost_:.1%} of the teacher's FLOPs")

# %%
# R^2 against cost
# ----------------
# ``CostCurveDisplay`` draws R^2 for a regressor (any metric with
# ``metric=``, e.g. ``sklearn.metrics.mean_absolute_error``), the teacher's
# R^2 as a line, and on the right how closely each prefix follows the
# teacher's predictions (R^2 against them).
CostCurveDisplay.from_estimator(reg, X_test, y_test, name="B-DISTIL")
plt.show()
