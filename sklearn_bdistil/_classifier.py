"""BDistilClassifier: the classification hooks of the boosting loop, parameters, docs."""

from numbers import Real

import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval

from sklearn_bdistil import _teacher
from sklearn_bdistil._base import BaseBDistil
from sklearn_bdistil._early_exit import EarlyExitMixin
from sklearn_bdistil._losses import DistillationLoss
from sklearn_bdistil._predict import ClassifierPredictorMixin
from sklearn_bdistil._target import label_codes, target_logits
from sklearn_bdistil._validation import (
    check_classes,
    check_teacher_logits,
    check_teacher_quality,
    validate_fit_data,
)

__all__ = ["BDistilClassifier"]


class BDistilClassifier(EarlyExitMixin, ClassifierPredictorMixin, ClassifierMixin, BaseBDistil):
    """Progressive ensemble distillation (B-DISTIL) of a fitted classifier.

    Decomposes a teacher into an ordered ensemble of small torch students
    ``F_k = a_1 f_1 + ... + a_k f_k`` such that every prefix is a usable
    classifier and each added student lowers the distillation loss. Each
    round re-weights (row, class) pairs where the ensemble is furthest from
    the teacher, trains the cheapest student class that reaches the
    weak-learning edge ``gamma`` (escalating along ``students`` when one does
    not), and adds it with a line-searched step.

    Parameters
    ----------
    teacher : estimator or torch.nn.Module
        A fitted scikit-learn classifier (``predict_proba`` or
        ``decision_function``, one-vs-rest; a ``sklearn.frozen.FrozenEstimator``
        keeps it fitted through ``clone``), a skorch ``NeuralNet``, or a torch
        module returning logits (a single column: the positive class's logit
        of a binary problem). An unfitted scikit-learn teacher is cloned and
        fitted on ``(X, y)``; the fitted one is ``teacher_``.
    students : list of callables, default=None
        The escalation ladder, cheapest first: factories
        ``factory(n_features_in, n_classes) -> nn.Module`` such as
        :class:`~sklearn_bdistil.students.MLPStudent`. Rounds start at the
        first and move to the next when a trained student's edge is below
        ``gamma``; they never move back. ``None`` means
        ``[MLPStudent((8,)), MLPStudent((16,)), MLPStudent((32,))]``.
    n_estimators : int, default=10
        Maximum number of stages ``T``.
    connection : {"none", "dense", "residual", "gru", "lstm"} or callable, default="none"
        How student ``t`` reads the last hidden features of student ``t - 1``
        (frozen; cached for the transfer set, so a round trains one student):
        see the algorithm page of the documentation. A callable
        ``factory(body_width, prev_width) -> nn.Module`` mapping ``(z, h_prev)``
        to hidden features of width ``body_width`` is a custom connection.
        Needs students with a ``features`` method and a linear ``head``
        (:class:`~sklearn_bdistil.students.StudentNet`, as the built-in
        factories return).
    eta : float, default=1.0
        Inverse temperature of the distribution player, applied to residuals
        divided by their standard deviation (so it is dimensionless);
        positive (at 0 the player is uniform and every edge is 0).
    gamma : float, default=0.0
        Weak-learning edge a student must reach, in ``[-1, 1]``. No edge
        can exceed ``sum|K+ - K-|``, which depends on ``eta`` (about 0.08 at
        ``eta=0.1`` and 0.7 at ``eta=1`` for Gaussian residuals) and on the
        round; the fit stops with an :class:`EarlyStoppingWarning` that says
        so when ``gamma`` is out of reach.
    barrier_strength : float, default=0.1
        Weight ``lam`` of the soft log-barrier in the FIND_WL loss.
    barrier_delta : float, default=0.1
        Floor of the barrier's logarithm argument, in ``(0, 1)``.
    temperature : float, default=1.0
        Distillation temperature ``tau``.
    label_weight : float in [0, 1], default=0.9
        When ``fit`` gets ``y``, every round distils toward the mixture
        ``(1 - label_weight) * softmax(G / tau) + label_weight * onehot(y)``
        of the teacher and the labels (floored at 1e-4), in the distribution
        player, the edge, the barrier, the FIND_WL loss, the line search and
        acceptance alike. ``0`` distils the teacher alone (the paper); ``1``
        boosts on the labels alone. Rows without a label (augmented copies)
        keep the teacher alone; without ``y`` it has no effect. The default
        comes from the benchmarks on the Results page of the documentation:
        on sensor data split by subject, on digits, letter and HAPT it won
        over 0 and 0.5.
    augmentation : {"mixup", "jitter"}, callable or None, default=None
        Enlarges the training part of the transfer set with
        ``augmentation_copies`` transformed copies of its rows, labelled by
        the teacher (which must be fitted; held-out rows are never
        augmented). ``"mixup"``: ``lam * x_i + (1 - lam) * x_j`` with ``j`` a
        random row and ``lam ~ Beta(0.4, 0.4)``; ``"jitter"``: Gaussian noise
        of 0.1 times each feature's standard deviation; a callable
        ``augmentation(X, rng) -> X_new`` (``rng`` a
        :class:`numpy.random.Generator`, ``X_new`` of the shape of ``X``),
        e.g. a time warp of sensor windows. An epoch stays one pass's worth
        of rows of the transfer set as given (drawn from the enlarged set),
        so augmentation does not lengthen training. ``None``: off.
    augmentation_copies : int, default=2
        Transformed copies of each training row when ``augmentation`` is set.
    learning_rate : float, default=0.5
        Shrinkage applied to the line-searched step of each stage (1.0: the
        line-searched step itself). See the Results page of the
        documentation for the evidence behind the default.
    corrective_epochs : int, default=0
        Epochs of the corrective step after each kept stage from the second
        on: every kept student is trained again, together with the others
        (stage weights fixed), on the mean over prefixes of the distillation
        loss, so that earlier students move towards what later ones need while
        every prefix stays a classifier of its own. The epoch with the lowest
        held-out mean is kept, and the step only where it lowers that mean.
        ``0`` (the default): off, the paper's algorithm, each stage frozen once
        kept. Costs about ``corrective_epochs * k`` student-epochs at stage
        ``k``. Measured (Results page): 5 epochs raise the area under the
        anytime curve by 0.6-1.1 points on letter, and are within the seed
        spread or below the default elsewhere, so it is opt-in.
    corrective_lr : float, default=0.005
        Peak Adam learning rate of the corrective steps (annealed over their
        epochs); for the steps after each stage, halved for every later step
        after a step that was not kept.
    corrective_weight_decay : float or "auto", default="auto"
        Decoupled weight decay of the corrective steps: AdamW with this
        ``weight_decay`` instead of Adam where it is not 0. It pulls the
        students' weights towards 0 while the step trains them on the
        transfer set, against the over-fitting that makes the step useless
        where small students have many inputs. ``"auto"``: the final step
        trains with Adam and, where that step is not kept, once more from
        the same stages with AdamW at 0.3 (kept, as always, only where it
        lowers the held-out mean); the steps after each stage use Adam.
        Measured (Results page, 3 seeds): on Fashion-MNIST, where the step
        without decay is never kept, ``"auto"`` raised the area under the
        anytime curve by 0.45 points on average; a decay in every step lost
        0.8 points on letter.
    final_corrective_epochs : int, default=20
        Epochs of one corrective step (as for ``corrective_epochs``) over all
        kept stages once the rounds are over: after the last of
        ``n_estimators`` stages, after an early stop, or after a
        ``stage_callback`` stop (not after Ctrl-C, nor when an error ends the
        fit), when at least two stages were kept. Kept only where it lowers
        the held-out mean prefix loss. It trains copies: the rounds' stages
        stay as they were, and a fit without the step has the same stages
        before it. A warm start or a checkpoint resume continues from the
        rounds' stages and corrects copies of all stages at its end, so it
        gives the model of one fit (its earlier stages change too).
        ``0``: off, the paper's algorithm.
        Costs about ``final_corrective_epochs * k`` student-epochs for ``k``
        stages (40-70% more fit time in the benchmarks). Measured (Results
        page, 3 seeds): +0.7 points of area under the anytime curve and +1.1
        of final accuracy on letter, within the seed spread on the other
        four data sets.
    max_epochs : int, default=20
        Epochs over the transfer set per FIND_WL round.
    batch_size : int, default=256
        Minibatch size of FIND_WL.
    lr : float, default=0.02
        Learning rate of the optimizer (its peak, with ``lr_schedule="cosine"``).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        How the learning rate moves over a student's ``max_epochs`` epochs:
        ``"cosine"`` anneals it from ``lr`` in the first epoch towards 0 in
        the last (torch's ``CosineAnnealingLR``, stepped per epoch);
        ``"constant"`` keeps ``lr``. See the Results page of the
        documentation for the evidence behind the defaults.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Optimizer of each FIND_WL round (constructed by skorch with ``lr``,
        and ``weight_decay`` where it is not 0). The corrective steps do not
        use it: they train with Adam, or AdamW (``corrective_weight_decay``).
    weight_decay : float, default=0.0
        Weight decay of ``optimizer`` in FIND_WL, passed to it as
        ``weight_decay`` (left out at 0). With ``torch.optim.AdamW`` it is
        decoupled: each step shrinks every weight by ``lr * weight_decay`` of
        its value, so over one annealed student's training an untouched
        weight keeps about ``exp(-weight_decay * lr * steps / 2)`` of it
        (``exp(-1.4)`` for ``AdamW`` at 0.1 with 70 batches per epoch). With
        ``Adam`` or ``SGD`` it is an L2 penalty of another strength.
        Measured (Results page): ``optimizer=torch.optim.AdamW,
        weight_decay=0.1`` raised the anytime accuracy on Fashion-MNIST
        (784 pixels, ``MLPStudent((8,))``) on every seed, was neutral on
        digits and letter, and lowered it on the sensor data sets, so the
        default stays without decay.
    validation_fraction : float or None, default=0.1
        Fraction of the transfer set held out: contiguous blocks of rows (4
        of 40 at 0.1), or whole groups with ``fit(groups=...)``, so that
        overlapping windows of a recording rarely straddle it; a stage that
        does not lower the held-out distillation loss is not kept. ``None``
        keeps a stage when it lowers the training distillation loss.
    n_iter_no_change : int, default=3
        Rounds in a row without a kept stage after which the fit stops.
    predict_batch_size : int, default=8192
        Rows per batch when computing teacher logits and predictions.
    teacher_cost : float or None, default=None
        The teacher's FLOPs per row, where they cannot be counted
        automatically. Counted for torch modules, skorch nets,
        ``MLPClassifier``, scikit-learn's trees, forests and (hist) gradient
        boosting (1 FLOP per comparison on a row's expected path), linear
        models, kernel SVMs, k-nearest neighbours and Gaussian naive Bayes.
    classes : array-like of shape (n_classes,), default=None
        Labels of the teacher's outputs, in output order, for a teacher
        without ``classes_`` (a torch module, a skorch ``NeuralNet``, or
        ``teacher_logits`` with ``teacher=None``). When None such a teacher's
        classes are ``np.unique(y)``, which must then hold every class, or
        ``0..n_classes-1`` without ``y``. Must equal ``teacher.classes_``
        where the teacher has them.
    warm_start : bool, default=False
        When True, ``fit`` keeps the stages already fitted and adds stages
        until there are ``n_estimators`` (predictions of the old prefix do not
        change). Needs the same ``X`` (the held-out split is reused) and
        teacher.
    checkpoint_dir : str or path-like, default=None
        Directory where each kept stage is written as it is fitted. A fit
        started with a directory that already holds stages (of the same
        problem and students) resumes after them, e.g. in a new process after
        a crash. Loading reads tensors with ``weights_only=True`` and JSON
        only. Delete the directory to start over.
    stage_callback : callable, default=None
        Called after each kept stage as ``stage_callback(estimator, info)``
        with ``info`` a dict (``stage``, ``student``, ``edge``, ``weight``,
        ``train_loss``, ``valid_loss``, ``cumulative_flops``, ``seconds``).
        The estimator then holds the stages kept so far, as after a fit, so
        the callback can score the current prefix. Returning a true value (or
        raising ``KeyboardInterrupt``) stops the fit like an interrupt: the
        completed stages are kept, with a
        :class:`~sklearn_bdistil.FitInterruptedWarning`. Any other exception
        it raises propagates out of ``fit``, the completed stages kept.
    device : str or torch.device, default="cpu"
        Where students are trained and evaluated. With ``"cuda"`` the
        transfer set, the teacher logits, the weights and the ensemble logits
        stay on the GPU for the whole fit. The fitted students are kept on
        the CPU; prediction copies them to this device on its first call and
        reuses the copies until a stage changes. Prediction falls back to the
        CPU (with a warning) where this device is not available.
    accelerator : accelerate.Accelerator, default=None
        Trains each FIND_WL round through skorch's Accelerate integration
        (``skorch.hf.AccelerateMixin``): data parallel across the processes
        of ``accelerate launch`` (each process trains on its shard of every
        minibatch; gradients are averaged), mixed precision, and so on. The
        fit then runs on ``accelerator.device`` instead of ``device`` (which
        still places predictions); every process runs the rest of the
        boosting loop identically, and only the main process writes to
        ``checkpoint_dir``. Needs ``pip install accelerate``.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split and one seed per student (initialisation
        and minibatch order).
    verbose : int, default=0
        ``1`` prints a legend, then one line per stage (and why a round kept
        no stage); ``2`` also shows a progress bar over each round's
        training epochs (tqdm, in a notebook a widget).

    Attributes
    ----------
    teacher_ : object
        The fitted teacher.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.
    estimators_ : list of torch.nn.Module
        The kept students, in order, on the CPU in eval mode.
    connections_ : list of torch.nn.Module or None
        The connection of each stage (``None`` for the first stage and
        without connections).
    estimator_weights_ : ndarray of shape (n_stages,)
        Step ``a_t`` of each stage.
    edges_ : ndarray of shape (n_stages,)
        Weak-learning edge of each stage.
    student_indices_ : ndarray of shape (n_stages,)
        Index into ``students`` of the class used at each stage.
    n_estimators_ : int
        Number of kept stages (``n_stages`` in the shapes here).
    train_loss_ : ndarray of shape (n_stages + 1,)
        Training distillation loss of the empty ensemble and after each stage.
    validation_loss_ : ndarray of shape (n_stages + 1,)
        Held-out distillation loss likewise (NaN without a held-out set).
    stage_costs_ : ndarray of shape (n_stages,)
        FLOPs per row of each stage (2 per multiply-add of its matrix products
        and convolutions; element-wise work not counted).
    cumulative_costs_ : ndarray of shape (n_stages,)
        FLOPs per row of each prefix.
    stage_params_ : ndarray of shape (n_stages,)
        Parameter count of each stage.
    stage_latency_ : ndarray of shape (n_stages, 2)
        Measured seconds per row of each stage on the CPU of the fitting
        machine, at batch size 1 (column 0) and 1024 (column 1).
    teacher_cost_ : float or None
        FLOPs per row of the teacher (``teacher_cost``, or counted; see
        there); ``None`` for a teacher of a kind that cannot be counted.

    See Also
    --------
    sklearn.ensemble.AdaBoostClassifier : boosting with staged prediction.

    References
    ----------
    .. [1] D. K. Dennis, A. Shetty, A. Sevekari, K. Koishida, V. Smith,
       "Progressive Ensemble Distillation: Building Ensembles for Efficient
       Inference", NeurIPS 2023, arXiv:2302.10093.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_bdistil import BDistilClassifier
    >>> from sklearn_bdistil.students import MLPStudent
    >>> X, y = load_iris(return_X_y=True)
    >>> teacher = LogisticRegression(max_iter=500).fit(X, y)
    >>> clf = BDistilClassifier(teacher, [MLPStudent((4,))], n_estimators=3,
    ...                         max_epochs=50, random_state=0).fit(X)
    >>> clf.n_estimators_
    3
    >>> clf.predict(X[:2])
    array([0, 0])
    >>> agreement = [(p == teacher.predict(X)).mean() for p in clf.staged_predict(X)]
    >>> bool(agreement[-1] > 0.95)
    True
    """

    _parameter_constraints = {
        **BaseBDistil._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "classes": ["array-like", None],
    }

    _loss_abbrev = "KD"

    def __init__(self, teacher, students=None, *, n_estimators=10, connection="none", eta=1.0,
                 gamma=0.0, barrier_strength=0.1, barrier_delta=0.1,
                 temperature=1.0, label_weight=0.9, augmentation=None, augmentation_copies=2,
                 learning_rate=0.5, corrective_epochs=0, corrective_lr=0.005,
                 corrective_weight_decay="auto", final_corrective_epochs=20, max_epochs=20,
                 batch_size=256, lr=0.02, lr_schedule="cosine",
                 optimizer=torch.optim.Adam, weight_decay=0.0,
                 validation_fraction=0.1, n_iter_no_change=3,
                 predict_batch_size=8192, teacher_cost=None, classes=None, warm_start=False,
                 checkpoint_dir=None, stage_callback=None, device="cpu",
                 accelerator=None, random_state=None, verbose=0):
        self.teacher = teacher
        self.students = students
        self.n_estimators = n_estimators
        self.connection = connection
        self.eta = eta
        self.gamma = gamma
        self.barrier_strength = barrier_strength
        self.barrier_delta = barrier_delta
        self.temperature = temperature
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
        self.classes = classes
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.stage_callback = stage_callback
        self.device = device
        self.accelerator = accelerator
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, teacher_logits=None, groups=None):
        """Distil the teacher into a staged ensemble of students.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The transfer set. Labels are optional: the teacher labels it. A
            pandas DataFrame reaches the teacher as it is (column names and
            dtypes kept); the students get its values as floats.
        y : array-like of shape (n_samples,), default=None
            Labels of the transfer set, optional. When given, every label must
            be one of the teacher's classes, and the rounds distil toward the
            teacher mixed with the labels (see ``label_weight``); needed to
            fit an unfitted teacher.
        teacher_logits : array-like of shape (n_samples, n_classes), default=None
            Precomputed teacher logits for ``X`` (columns in the order of the
            teacher's classes). Sliced per fold by ``GridSearchCV``, so a
            search never re-runs the teacher.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows, e.g. the subject or recording of each
            sensor window. The held-out part that decides whether a stage is
            kept is then made of whole groups (``validation_fraction`` of the
            groups), so overlapping windows of one recording never sit on
            both sides of it. A warm start or a resumed checkpoint needs the
            same groups.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, teacher_logits, groups)

    # ------------------------------------------------- hooks of the boosting loop

    def _check_fit_data(self, X, y, teacher_logits):
        return validate_fit_data(self, X, y, teacher_logits)

    def _fit_target(self, X, y, teacher_logits, fitted_teacher):
        """Fit the teacher if needed; set ``teacher_`` and ``classes_``; return the
        target logits: the teacher's, mixed with the labels where given."""
        if teacher_logits is None:
            self.teacher_ = fitted_teacher or _teacher.fit_teacher(self.teacher, X, y)
            G = _teacher.teacher_logits(self.teacher_, X, self.predict_batch_size)
        else:
            self.teacher_ = self.teacher
            G = check_teacher_logits(teacher_logits, X.shape[0])
        self.classes_ = check_classes(self.teacher_, G.shape[1], y, self.classes)
        codes = None if y is None else label_codes(y, self.classes_)
        check_teacher_quality(self.teacher_, G, codes, stacklevel=6)
        return target_logits(G, codes, self.label_weight, self.temperature)

    def _teacher_target(self, rows):
        return _teacher.teacher_logits(self.teacher_, rows, self.predict_batch_size)

    def _make_loss(self):
        return DistillationLoss(self.temperature, self.barrier_strength, self.barrier_delta)

    def _outputs_key(self):
        return self.classes_
