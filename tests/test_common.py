"""scikit-learn's common estimator checks."""

from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bdistil import BDistilClassifier, MLPStudent

ESTIMATOR = BDistilClassifier(LogisticRegression(), [MLPStudent((8,)), MLPStudent((16,))],
                              n_estimators=3, max_epochs=10, random_state=0)

EXPECTED_FAILED = {}


@parametrize_with_checks([ESTIMATOR], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
