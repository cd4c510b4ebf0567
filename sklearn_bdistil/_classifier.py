"""BDistilClassifier: parameters, validation, the boosting loop and staged prediction."""

import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from sklearn_bdistil import _teacher
from sklearn_bdistil._augment import AUGMENTATIONS, augment_rows
from sklearn_bdistil._checkpoint import StageRecord
from sklearn_bdistil._cost import stage_flops, stage_latency, stage_params, teacher_flops
from sklearn_bdistil._find_wl import find_wl
from sklearn_bdistil._game import (
    centred_residual,
    edge,
    max_edge,
    residual_scale,
    signed_weights,
)
from sklearn_bdistil._loss import distillation_loss, pack_targets
from sklearn_bdistil._predict import StagedPredictorMixin, resolve_device
from sklearn_bdistil._resume import ResumableFitMixin
from sklearn_bdistil._step import line_search
from sklearn_bdistil._target import label_codes, target_logits
from sklearn_bdistil._transfer import Transfer
from sklearn_bdistil._validation import (
    check_classes,
    check_groups,
    check_students,
    check_teacher_logits,
    check_teacher_quality,
    fit_teacher_needs_y,
    probe_students,
    split_rows,
    validate_fit_data,
)
from sklearn_bdistil.exceptions import EarlyStoppingWarning, FitInterruptedWarning
from sklearn_bdistil.students import MLPStudent
from sklearn_bdistil.students._base import scaling_hint
from sklearn_bdistil.students._connections import (
    CONNECTIONS,
    state_layout,
)

__all__ = ["BDistilClassifier"]

#: Batch sizes at which ``stage_latency_`` is measured: one row, and a large batch.
LATENCY_BATCH_SIZES = (1, 1024)

DEFAULT_STUDENTS = (MLPStudent((8,)), MLPStudent((16,)), MLPStudent((32,)))


class _Stop(Exception):
    """Raised inside a round to end the fit early, with the reason as message.

    ``untrained``: the students did not learn enough (no class reached the
    weak-learning edge, or rounds in a row kept no stage), where unscaled
    inputs are a likely cause.
    """

    def __init__(self, message, untrained=False):
        super().__init__(message)
        self.untrained = untrained


class _Interrupt(Exception):
    """The user's ``stage_callback`` asked the fit to stop."""


class BDistilClassifier(ResumableFitMixin, StagedPredictorMixin, ClassifierMixin,
                        BaseEstimator):
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
        divided by their standard deviation (so it is dimensionless).
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
    max_epochs : int, default=20
        Epochs over the transfer set per FIND_WL round.
    batch_size : int, default=256
        Minibatch size of FIND_WL.
    lr : float, default=0.01
        Learning rate of the optimizer.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Optimizer of each FIND_WL round (constructed by skorch with ``lr``).
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
        "teacher": "no_validation",
        "students": [list, tuple, None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "eta": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, -1, 1, closed="both")],
        "barrier_strength": [Interval(Real, 0, None, closed="left")],
        "barrier_delta": [Interval(Real, 0, 1, closed="neither")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "label_weight": [Interval(Real, 0, 1, closed="both")],
        "augmentation": [StrOptions(set(AUGMENTATIONS)), callable, None],
        "augmentation_copies": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
        "teacher_cost": [Interval(Real, 0, None, closed="neither"), None],
        "classes": ["array-like", None],
        "connection": [StrOptions(set(CONNECTIONS)), callable],
        "warm_start": ["boolean"],
        "stage_callback": [callable, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "device": [str, torch.device],
        "accelerator": [HasMethods(["prepare", "unwrap_model"]), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, teacher, students=None, *, n_estimators=10, connection="none", eta=1.0,
                 gamma=0.0, barrier_strength=0.1, barrier_delta=0.1,
                 temperature=1.0, label_weight=0.9, augmentation=None, augmentation_copies=2,
                 learning_rate=0.5, max_epochs=20,
                 batch_size=256, lr=0.01, optimizer=torch.optim.Adam,
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
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
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
        previous = self._previous_stages()
        # a DataFrame reaches the teacher as it is (column names, dtypes), e.g. for
        # a teacher pipeline that selects columns by name; the students get floats
        frame = X if _teacher.is_dataframe(X) else None
        X, y = validate_fit_data(self, X, y, teacher_logits)
        groups = check_groups(groups, X.shape[0])
        students = check_students(self.students, DEFAULT_STUDENTS)
        device = (self.accelerator.device if self.accelerator is not None
                  else resolve_device(self.device, fallback=False))
        # sets teacher_ and classes_; a warm start keeps the teacher it was fitted with
        G = self._teacher_logits(X if frame is None else frame, y, teacher_logits,
                                 previous["teacher"] if previous else None)
        codes = None if y is None else label_codes(y, self.classes_)
        check_teacher_quality(self.teacher_, G, codes, stacklevel=4)
        # what the rounds distil toward: the teacher, mixed with the labels where given
        G = target_logits(G, codes, self.label_weight, self.temperature)
        problem = (None if self.checkpoint_dir is None
                   else self._checkpoint_problem(X, G, students, groups))
        records, rng, split_seed = self._resume(previous, X.shape[1], students, problem)
        # the rungs above the one the next round builds: a bad one must not wait for an
        # escalation, hours into the fit
        level = records[-1].student_index if records else 0
        probe_students(students[level + 1:], X.shape[1], len(self.classes_), self.connection)

        train, valid = split_rows(X.shape[0], self.validation_fraction, split_seed, groups)
        if self.validation_fraction is not None and not len(valid):
            warnings.warn(
                f"validation_fraction={self.validation_fraction} of {X.shape[0]} rows holds "
                "out no row: every stage is judged on the training loss, which cannot see "
                "over-fitting, and the held-out losses are NaN. Give more rows, or "
                "validation_fraction=None to choose this.", UserWarning, stacklevel=3)
        t = Transfer.on_device(X, G, train, valid, device, self.connection != "none",
                               extra=self._augment(X, G.shape[1], train, split_seed, frame))
        initial = (self._kd(t.F, t.G), self._kd(t.Fv, t.Gv))
        self.teacher_cost_ = (float(self.teacher_cost) if self.teacher_cost is not None
                              else teacher_flops(self.teacher_, X.shape[1]))
        for record in records:
            t.replay(record.module, record.connection, record.weight, self.predict_batch_size)
            t.level = record.student_index
        checkpoint = self._open_checkpoint(previous, records, problem, split_seed)

        rejected, attempt, latency = 0, 0, {}
        name_width = self._print_header(students) if self.verbose else None

        def keep():  # the fitted attributes from the stages so far, and the warm-start state
            self._set_fitted_stages(records, initial, X.shape[1], latency)
            self._remember_fit(rng, split_seed)

        try:
            while len(records) < self.n_estimators:
                attempt += 1
                start = time.perf_counter()
                last = records[-1] if records else None
                record = self._boost(
                    t, students, rng, last.train_loss if last else initial[0],
                    last.valid_loss if last else initial[1], attempt,
                    (last.module, last.connection) if last else None,
                )
                if record is None:
                    rejected += 1
                    if rejected >= self.n_iter_no_change:
                        raise _Stop(f"{rejected} rounds in a row kept no stage (a stage must "
                                    f"lower the {t.acceptance} distillation loss and train "
                                    "to finite values; verbose=1 says why each was not kept)",
                                    untrained=True)
                    continue
                rejected = 0
                record.rng_state = rng.get_state()
                records.append(record)
                if checkpoint is not None:
                    checkpoint.write_stage(len(records) - 1, record)
                info = {"stage": len(records), "student": students[record.student_index],
                        "edge": record.edge, "weight": record.weight,
                        "train_loss": record.train_loss, "valid_loss": record.valid_loss,
                        "cumulative_flops": sum(r.flops for r in records),
                        "seconds": time.perf_counter() - start}
                if self.verbose:
                    self._print_stage(info, name_width)
                if self.stage_callback is not None:
                    # the callback sees the model as it stands, e.g. to score the prefix,
                    # or to save it and warm-start it later
                    keep()
                    if self.stage_callback(self, info):
                        raise _Interrupt(
                            f"stage_callback asked to stop after stage {len(records)}")
        except _Stop as stop:
            hint = scaling_hint(students, X) if stop.untrained else ""
            warnings.warn(
                f"Stopped after {len(records)} of {self.n_estimators} "
                f"stages (round {attempt}): {stop}{hint}.", EarlyStoppingWarning,
                stacklevel=3,
            )
        except (KeyboardInterrupt, _Interrupt) as stop:
            why = str(stop) if isinstance(stop, _Interrupt) else f"interrupted in round {attempt}"
            warnings.warn(
                f"fit {why}; keeping the {len(records)} completed stages.",
                FitInterruptedWarning, stacklevel=3,
            )
        except Exception:
            if records:  # an error, e.g. in stage_callback: keep the stages, then raise
                keep()
            raise
        keep()
        return self

    def _teacher_logits(self, X, y, teacher_logits, fitted_teacher=None):
        """Fit the teacher if needed; set ``teacher_`` and ``classes_``; return ``G``."""
        if teacher_logits is None:
            self.teacher_ = fitted_teacher or _teacher.fit_teacher(self.teacher, X, y)
            G = _teacher.teacher_logits(self.teacher_, X, self.predict_batch_size)
        else:
            self.teacher_ = self.teacher
            G = check_teacher_logits(teacher_logits, X.shape[0])
        self.classes_ = check_classes(self.teacher_, G.shape[1], y, self.classes)
        return G

    def _augment(self, X, n_classes, train, seed, frame=None):
        """``(X_new, G_new)``: the teacher-labelled rows that enlarge the transfer set.

        ``frame`` is the DataFrame ``X`` came from, if any: the teacher then
        labels the new rows as a DataFrame with its columns.
        """
        if self.augmentation is None or self.augmentation_copies == 0:
            return None
        if not _teacher.is_fitted(self.teacher_):
            raise ValueError(
                f"augmentation={self.augmentation!r} needs a fitted teacher to label the "
                "new rows, but teacher_logits were given with an unfitted teacher (or "
                "teacher=None). Pass "
                "a fitted teacher (e.g. in sklearn.frozen.FrozenEstimator) or set "
                "augmentation=None."
            )
        X_new = augment_rows(X[train], self.augmentation, self.augmentation_copies,
                             (seed, 1))
        rows = X_new if frame is None else _teacher.like_frame(X_new, frame)
        G_new = _teacher.teacher_logits(self.teacher_, rows, self.predict_batch_size)
        if G_new.shape[1] != n_classes:
            raise ValueError(
                f"The teacher gives {G_new.shape[1]} logit columns on the augmented rows "
                f"but teacher_logits has {n_classes}."
            )
        return X_new, G_new

    def _set_fitted_stages(self, records, initial, n_features, latency):
        """Set the fitted attributes from the kept stages.

        ``latency`` maps stage modules to their measured latencies, filled as
        needed: a fit that sets its stages after every stage measures each once.
        """
        self.__dict__.pop("_device_stages", None)  # a refit's modules may reuse old ids
        self.estimators_ = [r.module for r in records]
        self._stage_rng_states = [r.rng_state for r in records]
        self.connections_ = [r.connection for r in records]
        self.n_estimators_ = len(records)
        self.estimator_weights_ = np.asarray([r.weight for r in records], dtype=np.float64)
        self.edges_ = np.asarray([r.edge for r in records], dtype=np.float64)
        self.student_indices_ = np.asarray([r.student_index for r in records], dtype=np.intp)
        self.train_loss_ = np.asarray([initial[0]] + [r.train_loss for r in records])
        self.validation_loss_ = np.asarray([initial[1]] + [r.valid_loss for r in records])
        self._record_costs([r.flops for r in records], n_features, latency)

    def _record_costs(self, flops, n_features, latency):
        """Per-stage FLOPs, parameters and measured CPU latency (``fit`` sets the
        teacher's FLOPs once)."""
        self.stage_costs_ = np.asarray(flops, dtype=np.float64)
        self.cumulative_costs_ = np.cumsum(self.stage_costs_)
        stages = list(zip(self.estimators_, self.connections_, strict=True))
        self.stage_params_ = np.asarray([stage_params(m, c) for m, c in stages],
                                        dtype=np.int64)
        widths = ([None] + [self._state_width(m, c) for m, c in stages])[:len(stages)]
        for (m, c), w in zip(stages, widths, strict=True):
            if m not in latency:
                latency[m] = [stage_latency(m, c, n_features, w, b) for b in LATENCY_BATCH_SIZES]
        self.stage_latency_ = np.asarray([latency[m] for m, _ in stages],
                                         dtype=np.float64).reshape(-1, 2)

    def _state_width(self, student, connection):
        """Width of the state a stage hands to the next one (``None``: unconnected)."""
        if self.connection == "none":
            return None
        width, has_cell = state_layout(student, connection)
        return 2 * width if has_cell else width

    def _boost(self, t, students, rng, train_loss, valid_loss, attempt, previous):
        """One round on the transfer set ``t``; a :class:`StageRecord` or ``None``.

        ``None`` means the round's stage is rejected (it does not lower the
        loss, or its training diverged); ``_Stop`` ends the fit. Moves
        ``t.level`` up the ladder when a student class is not a weak learner.
        ``previous`` is the last kept ``(student, connection)``, or ``None``.
        """
        residual = centred_residual(t.G, t.F)
        scale = residual_scale(residual)
        if scale == 0.0:
            raise _Stop("the ensemble matches the teacher's logits on the transfer set")
        D = signed_weights(residual, self.eta, scale)
        reach = max_edge(D)
        if self.gamma >= reach:  # no student could reach it: do not train any
            raise _Stop(
                f"gamma={self.gamma} is out of reach: no student's edge can exceed "
                f"sum|K+ - K-| = {reach:.4f} this round, which grows with eta={self.eta}; "
                "lower gamma or raise eta"
            )
        targets = pack_targets(t.G, t.F, D)
        for level in range(t.level, len(students)):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            found = find_wl(self, students[level], t, targets, previous, seed)
            if found is None:
                t.level = level  # the cheaper classes already failed the edge this round
                return self._reject(attempt, "its training diverged")
            student, connection, out = found
            e = edge(D, out[0])
            if e >= self.gamma:
                break
            if self.verbose and level + 1 < len(students):
                print(f"  student {level} ({students[level]!r}): edge {e:.4f} < "
                      f"gamma={self.gamma}; escalating")
        else:
            raise _Stop(
                f"no student class reached the weak-learning edge gamma={self.gamma} "
                f"(last edge {e:.4f}); larger students may be needed", untrained=True
            )
        t.level = level  # never back to a cheaper class
        f = out[0]
        a = self.learning_rate * line_search(t.F, f, t.G, self.temperature)
        if a <= 0.0:
            return self._reject(attempt, "no positive step lowers the training loss")
        new_train = self._kd(t.F + a * f, t.G)
        valid_out = t.outputs(student, connection, self.predict_batch_size, valid=True)
        new_valid = self._kd(t.Fv + a * valid_out[0], t.Gv)
        improved = new_valid < valid_loss if t.has_valid else new_train < train_loss
        if not improved:
            return self._reject(attempt, f"it does not lower the {t.acceptance} loss")
        prev_width = None if t.S is None else t.S.shape[1]
        t.accept(a, out, valid_out)
        flops = stage_flops(student, connection, t.X.shape[1], prev_width)
        return StageRecord(module=student.cpu(),
                           connection=None if connection is None else connection.cpu(),
                           weight=a, edge=e, student_index=level, train_loss=new_train,
                           valid_loss=new_valid, flops=flops)

    def _reject(self, attempt, why):
        if self.verbose:
            print(f"  round {attempt}: stage rejected, {why}")
        return None

    def _kd(self, F, G):
        if F.shape[0] == 0:
            return float("nan")
        return float(distillation_loss(F.double(), G.double(), self.temperature))

    def _print_header(self, students):
        """Print the legend and the table's header; return the student column's width."""
        width = max(7, *(len(repr(f)) for f in students))
        print(f"edge: how well the stage's student fits what the ensemble still misses "
              f"(kept from gamma={self.gamma}); step: the stage's weight\n"
              "train/valid KD: the ensemble's distillation loss on the training / held-out "
              "rows (a kept stage lowers the valid one)\n"
              "cum FLOPs: per row, of the stages so far; time: seconds of the round")
        print(f"{'stage':>5} {'student':<{width}} {'edge':>7} {'step':>7} "
              f"{'train KD':>9} {'valid KD':>9} {'cum FLOPs':>10} {'time':>6}")
        return width

    def _print_stage(self, info, width):
        print(f"{info['stage']:>5} {repr(info['student']):<{width}} {info['edge']:>7.4f} "
              f"{info['weight']:>7.3f} {info['train_loss']:>9.4f} {info['valid_loss']:>9.4f} "
              f"{info['cumulative_flops']:>10.0f} {info['seconds']:>5.1f}s")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = fit_teacher_needs_y(self.teacher)
        return tags

