"""BDistilRegressor: the regression hooks of the boosting loop, parameters, docs."""

import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils.validation import validate_data

from sklearn_bdistil import _teacher
from sklearn_bdistil._base import BaseBDistil
from sklearn_bdistil._losses import SquaredErrorLoss
from sklearn_bdistil._predict import RegressorPredictorMixin
from sklearn_bdistil._validation import (
    check_float32_range,
    check_numeric_columns,
    fit_teacher_needs_y,
)

__all__ = ["BDistilRegressor"]


class BDistilRegressor(RegressorPredictorMixin, RegressorMixin, BaseBDistil):
    """Progressive ensemble distillation (B-DISTIL) of a fitted regressor.

    Decomposes a teacher into an ordered ensemble of small torch students
    ``F_k = a_1 f_1 + ... + a_k f_k`` such that every prefix is a usable
    regressor and each added student lowers the squared error to the
    teacher. The rounds are those of
    :class:`~sklearn_bdistil.BDistilClassifier` with the squared error in
    place of the distillation loss: the distribution player weighs
    (row, output) pairs by the residual ``g - F`` (each output scaled by its
    spread, so ``eta`` is dimensionless), FIND_WL trains the cheapest student
    that reaches the edge ``gamma`` on ``mean (F + f - g)**2`` plus the
    barrier, and the step has a closed form. The rounds work in standardised
    units (each output's target minus its mean, over its standard deviation,
    on the transfer set); predictions are mapped back.

    Parameters
    ----------
    teacher : estimator or torch.nn.Module
        A fitted scikit-learn regressor (anything with ``predict``: pipelines,
        ``FrozenEstimator``, ``MultiOutputRegressor``), a skorch
        ``NeuralNetRegressor``, or a torch module returning
        ``(n_rows, n_outputs)`` (or ``(n_rows,)``). An unfitted scikit-learn or
        skorch teacher is cloned and fitted on ``(X, y)``; the fitted one is
        ``teacher_``.
    students : list of callables, default=None
        The escalation ladder, cheapest first: factories
        ``factory(n_features_in, n_outputs) -> nn.Module`` such as
        :class:`~sklearn_bdistil.students.MLPStudent`. ``None`` means
        ``[MLPStudent((8,)), MLPStudent((16,)), MLPStudent((32,))]``.
    n_estimators : int, default=10
        Maximum number of stages.
    connection : {"none", "dense", "residual", "gru", "lstm"} or callable, default="none"
        How student ``t`` reads the last hidden features of student ``t - 1``;
        as for :class:`~sklearn_bdistil.BDistilClassifier`.
    eta : float, default=1.0
        Inverse temperature of the distribution player, applied to each
        output's residual divided by its standard deviation; positive.
    gamma : float, default=0.0
        Weak-learning edge a student must reach, in ``[-1, 1]``.
    barrier_strength : float, default=0.1
        Weight of the soft log-barrier in the FIND_WL loss.
    barrier_delta : float, default=0.1
        Floor of the barrier's logarithm argument, in ``(0, 1)``.
    label_weight : float in [0, 1], default=0.9
        When ``fit`` gets ``y``, the rounds fit
        ``(1 - label_weight) * teacher + label_weight * y``; ``0`` distils the
        teacher alone, ``1`` boosts on the labels alone. Augmented rows keep
        the teacher alone; without ``y`` it has no effect. The default comes
        from ``benchmarks/compare_regression.py`` (quick runs, 2 seeds): on
        txhousing 0.9 gave the largest area under R^2-vs-cost (0.907 against
        0.905 at 0.5 and 0.894 at 0), on diamonds all three tied (0.977).
    augmentation : {"mixup", "jitter"}, callable or None, default=None
        Enlarges the training part of the transfer set with transformed
        copies of its rows, labelled by the (fitted) teacher; as for the
        classifier.
    augmentation_copies : int, default=2
    learning_rate : float, default=1.0
        Shrinkage of each stage's closed-form step. Unlike the classifier's
        (0.5), the default is the full step: a shrunk step leaves every
        prefix's prediction short of its target, and in the benchmarks 0.5
        lowered the area under R^2-vs-cost from 0.977 to 0.913 (diamonds)
        and from 0.905 to 0.841 (txhousing), below averaging the students.
    corrective_epochs : int, default=0
        Epochs of the corrective step after each kept stage (see
        :class:`BDistilClassifier`; here on the mean over prefixes of the
        squared error). ``0``: off, the default.
    corrective_lr : float, default=0.005
        Peak learning rate of the corrective steps.
    corrective_weight_decay : float or "auto", default=0.0
        AdamW's decoupled weight decay in the corrective steps (Adam at 0;
        ``"auto"`` as for :class:`BDistilClassifier`, not measured here).
    final_corrective_epochs : int, default=20
        Epochs of one corrective step over all kept stages once the rounds
        are over (see :class:`BDistilClassifier`). ``0``: off. Measured
        (Results page): the area under the anytime R^2 curve rose by 0.3,
        0.3 and 0 points on txhousing and 0.2, 0.1, 0.2 on diamonds
        (``--quick``), seeds 0-2.
    max_epochs : int, default=20
        Epochs over the transfer set per FIND_WL round.
    batch_size : int, default=256
    lr : float, default=0.02
        Learning rate of the optimizer (its peak, with ``lr_schedule="cosine"``).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        How the learning rate moves over a student's ``max_epochs`` epochs
        (see :class:`BDistilClassifier`).
    optimizer : torch optimizer class, default=torch.optim.Adam
    weight_decay : float, default=0.0
        Passed to ``optimizer`` where it is not 0 (see
        :class:`BDistilClassifier`); not measured on regression.
    validation_fraction : float or None, default=0.1
        Fraction of the transfer set held out (contiguous blocks, or whole
        groups with ``fit(groups=...)``); a stage that does not lower the
        held-out squared error is not kept. ``None`` judges on the training
        error.
    n_iter_no_change : int, default=3
        Rounds in a row without a kept stage after which the fit stops.
    predict_batch_size : int, default=8192
    teacher_cost : float or None, default=None
        The teacher's FLOPs per row, where they cannot be counted (counted for
        torch modules, skorch nets, ``MLPRegressor``, trees, forests, (hist)
        gradient boosting and linear models).
    warm_start : bool, default=False
        Keep the fitted stages and add more, up to ``n_estimators``.
    checkpoint_dir : str or path-like, default=None
        Write each kept stage there; a fit resumes from the stages it holds.
    stage_callback : callable, default=None
        ``stage_callback(estimator, info)`` after each kept stage; a true
        return value stops the fit, keeping the stages.
    device : str or torch.device, default="cpu"
    accelerator : accelerate.Accelerator, default=None
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    teacher_ : object
    n_outputs_ : int
        Number of outputs (1 for a 1-D ``y``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.
    estimators_, connections_, estimator_weights_, edges_, student_indices_ : list or ndarray
        As for :class:`~sklearn_bdistil.BDistilClassifier`.
    n_estimators_ : int
    train_loss_, validation_loss_ : ndarray of shape (n_stages + 1,)
        Mean squared error to the target in standardised units (about 1 for the
        empty ensemble on the training rows), before and after each stage.
    stage_costs_, cumulative_costs_, stage_params_, stage_latency_ : ndarray
        FLOPs per row, parameters and measured latency per stage.
    teacher_cost_ : float or None

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_bdistil import BDistilRegressor, MLPStudent
    >>> X, y = load_diabetes(return_X_y=True)
    >>> teacher = Ridge(alpha=0.1).fit(X, y)
    >>> reg = BDistilRegressor(teacher, [MLPStudent((8,))], n_estimators=3,
    ...                        max_epochs=30, random_state=0).fit(X)
    >>> reg.n_estimators_
    3
    >>> bool(reg.score(X, teacher.predict(X)) > 0.9)
    True
    """

    _parameter_constraints = dict(BaseBDistil._parameter_constraints)

    _loss_abbrev = "MSE"

    def __init__(self, teacher, students=None, *, n_estimators=10, connection="none", eta=1.0,
                 gamma=0.0, barrier_strength=0.1, barrier_delta=0.1, label_weight=0.9,
                 augmentation=None, augmentation_copies=2, learning_rate=1.0,
                 corrective_epochs=0, corrective_lr=0.005, corrective_weight_decay=0.0,
                 final_corrective_epochs=20, max_epochs=20,
                 batch_size=256, lr=0.02, lr_schedule="cosine", optimizer=torch.optim.Adam,
                 weight_decay=0.0,
                 validation_fraction=0.1, n_iter_no_change=3, predict_batch_size=8192,
                 teacher_cost=None, warm_start=False, checkpoint_dir=None,
                 stage_callback=None, device="cpu", accelerator=None, random_state=None,
                 verbose=0):
        self.teacher = teacher
        self.students = students
        self.n_estimators = n_estimators
        self.connection = connection
        self.eta = eta
        self.gamma = gamma
        self.barrier_strength = barrier_strength
        self.barrier_delta = barrier_delta
        self.label_weight = label_weight
        self.augmentation = augmentation
        self.augmentation_copies = augmentation_copies
        self.learning_rate = learning_rate
        self.corrective_epochs = corrective_epochs
        self.corrective_lr = corrective_lr
        self.corrective_weight_decay = corrective_weight_decay
        self.final_corrective_epochs = final_corrective_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.predict_batch_size = predict_batch_size
        self.teacher_cost = teacher_cost
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.stage_callback = stage_callback
        self.device = device
        self.accelerator = accelerator
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, teacher_predictions=None, groups=None):
        """Distil the teacher into a staged ensemble of students.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The transfer set; the teacher labels it.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets, optional: when given, the rounds fit the teacher mixed
            with them (``label_weight``); needed to fit an unfitted teacher.
        teacher_predictions : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Precomputed teacher predictions for ``X``, instead of running the
            teacher.
        groups : array-like of shape (n_samples,), default=None
            Group labels (e.g. subjects); the held-out part is made of whole
            groups.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, teacher_predictions, groups)

    # ------------------------------------------------- hooks of the boosting loop

    def _check_fit_data(self, X, y, teacher_predictions):
        check_numeric_columns(X)
        if y is None:
            if teacher_predictions is None and fit_teacher_needs_y(self.teacher):
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is "
                    f"None: the teacher {type(self.teacher).__name__} is not fitted. Pass "
                    "y, or a fitted teacher (e.g. in sklearn.frozen.FrozenEstimator).")
            X = validate_data(self, X, dtype=[np.float64, np.float32])
            return check_float32_range(X), None
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True)
        return check_float32_range(X), y

    def _fit_target(self, X, y, teacher_predictions, fitted_teacher):
        """Fit the teacher if needed; set ``teacher_``, ``n_outputs_`` and the
        standardisation; return the standardised target of the rounds."""
        n = X.shape[0]
        if teacher_predictions is None:
            self.teacher_ = fitted_teacher or _teacher.fit_regression_teacher(
                self.teacher, X, y)
            P, one_d = _teacher.teacher_predictions(self.teacher_, X, self.predict_batch_size)
        else:
            self.teacher_ = self.teacher
            P, one_d = _check_teacher_predictions(teacher_predictions, n)
        target = P.astype(np.float64)
        if y is not None:
            Y = np.asarray(y, dtype=np.float64).reshape(n, -1)
            if Y.shape[1] != P.shape[1]:
                raise ValueError(
                    f"y has {Y.shape[1]} outputs but the teacher gives {P.shape[1]}.")
            _check_teacher_quality(self.teacher_, P, Y)
            target = (1.0 - self.label_weight) * target + self.label_weight * Y
            one_d = np.asarray(y).ndim == 1
        if self.warm_start and hasattr(self, "estimators_") and hasattr(self, "_target_mean"):
            mean, scale = self._target_mean, self._target_scale  # the stages' units
        else:
            mean, spread = target.mean(axis=0), target.std(axis=0)
            scale = np.where(spread > 1e-12 * np.maximum(1.0, np.abs(mean)), spread, 1.0)
        self.n_outputs_ = P.shape[1]
        self._y_1d = bool(one_d)
        self._target_mean, self._target_scale = mean, scale
        return ((target - mean) / scale).astype(np.float32)

    def _teacher_target(self, rows):
        P, _ = _teacher.teacher_predictions(self.teacher_, rows, self.predict_batch_size)
        return ((P - self._target_mean) / self._target_scale).astype(np.float32)

    def _make_loss(self):
        return SquaredErrorLoss(self.barrier_strength, self.barrier_delta)

    def _outputs_key(self):
        return np.arange(self.n_outputs_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _check_teacher_predictions(predictions, n_samples):
    if isinstance(predictions, torch.Tensor):
        predictions = predictions.detach().cpu()
    P = np.asarray(predictions, dtype=np.float32)
    one_d = P.ndim == 1
    if one_d:
        P = P.reshape(-1, 1)
    if P.ndim != 2 or P.shape[0] != n_samples:
        raise ValueError(
            f"teacher_predictions must have shape (n_samples={n_samples},) or "
            f"(n_samples, n_outputs); got {np.shape(predictions)}.")
    if not np.isfinite(P).all():
        raise ValueError("teacher_predictions contains NaN or infinity.")
    return P, one_d


def _check_teacher_quality(teacher, P, Y):
    """Warn when the teacher explains none of the targets' variance (R^2 <= 0)."""
    if len(Y) < 20:
        return
    total = ((Y - Y.mean(axis=0)) ** 2).sum()
    if total <= 0:
        return
    r2 = 1.0 - ((Y - P) ** 2).sum() / total
    if r2 <= 0:
        warnings.warn(
            f"The teacher ({type(teacher).__name__}) has R^2 {r2:.3f} on the labelled "
            "transfer rows, no better than predicting their mean. It most likely sees "
            "other inputs than it was fitted on (a Pipeline step in front of the "
            "estimator that the teacher was not fitted behind), or is not trained.",
            UserWarning, stacklevel=6)
