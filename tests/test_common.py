"""scikit-learn's common estimator checks."""

from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bdistil import BDistilClassifier, BDistilRegressor, MLPStudent

# The checks fit on a few dozen rows of noise, where a held-out part of 2-3 rows
# rejects every stage, and a model that kept no stage refuses to predict
# (NotFittedError, tested in test_predict.py): judged on the training loss, each
# check's fit keeps stages, so the checks test the API they are meant to.
ESTIMATOR = BDistilClassifier(LogisticRegression(), [MLPStudent((8,)), MLPStudent((16,))],
                              n_estimators=3, max_epochs=10, validation_fraction=None,
                              random_state=0)

REGRESSOR = BDistilRegressor(Ridge(), [MLPStudent((8,)), MLPStudent((16,))], n_estimators=3,
                             max_epochs=10, batch_size=32, validation_fraction=None,
                             random_state=0)

EXPECTED_FAILED = {}


@parametrize_with_checks([ESTIMATOR, REGRESSOR], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
