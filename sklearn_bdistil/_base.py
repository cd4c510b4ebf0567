"""The boosting loop shared by both estimators: fit -> preparing the fit -> rounds -> one round.

:class:`BaseBDistil` owns the loop, in the manner of scikit-learn's
``BaseWeightBoosting``: ``_fit`` prepares the transfer set and runs rounds
until ``n_estimators`` stages are kept (or it stops, early or interrupted),
and ``_boost`` is one round: the distribution player's weights, FIND_WL
(with escalation along the ladder), the step and acceptance. What differs
between tasks sits in small hooks that the estimators define (the targets'
checks, the teacher's outputs and the target the rounds fit) and in a loss
object (:mod:`sklearn_bdistil._losses`: residual, criterion, step,
evaluation).
"""

import copy
import dataclasses
import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from sklearn_bdistil import _teacher
from sklearn_bdistil._augment import AUGMENTATIONS, augment_rows
from sklearn_bdistil._checkpoint import StageRecord
from sklearn_bdistil._corrective import corrective_step, prefix_outputs
from sklearn_bdistil._cost import set_stage_costs, stage_flops, teacher_flops
from sklearn_bdistil._find_wl import LR_SCHEDULES, find_wl
from sklearn_bdistil._game import edge, max_edge, signed_weights
from sklearn_bdistil._loss import pack_targets
from sklearn_bdistil._predict import resolve_device
from sklearn_bdistil._resume import ResumableFitMixin
from sklearn_bdistil._transfer import Transfer
from sklearn_bdistil._validation import (
    check_groups,
    check_optimizer,
    check_students,
    fit_teacher_needs_y,
    probe_students,
    split_rows,
)
from sklearn_bdistil.exceptions import EarlyStoppingWarning, FitInterruptedWarning
from sklearn_bdistil.students import MLPStudent
from sklearn_bdistil.students._base import scaling_hint
from sklearn_bdistil.students._connections import CONNECTIONS

__all__ = ["BaseBDistil", "DEFAULT_STUDENTS"]

DEFAULT_STUDENTS = (MLPStudent((8,)), MLPStudent((16,)), MLPStudent((32,)))


class _Stop(Exception):
    """Raised inside a round to end the fit early, with the reason as message.

    ``untrained``: the students did not learn enough (no output reached the
    weak-learning edge, or rounds in a row kept no stage), where unscaled
    inputs are a likely cause.
    """

    def __init__(self, message, untrained=False):
        super().__init__(message)
        self.untrained = untrained


#: The final step's weight decay under ``corrective_weight_decay="auto"``, where the step
#: without decay was not kept (docs/results.md, the corrective weight decay section).
AUTO_CORRECTIVE_DECAY = 0.3


class _Interrupt(Exception):
    """The user's ``stage_callback`` asked the fit to stop."""


class BaseBDistil(ResumableFitMixin, BaseEstimator):
    """The B-DISTIL boosting loop; subclasses supply the task's hooks.

    Hooks: ``_check_fit_data(X, y, teacher_outputs) -> (X, y)``;
    ``_fit_target(X, y, teacher_outputs, fitted_teacher) -> T`` (sets
    ``teacher_`` and the task's output attributes, returns the float32
    ``(n_rows, n_outputs)`` target the rounds fit); ``_teacher_target(rows)``
    (the target of rows without labels, from the fitted teacher);
    ``_make_loss()`` (a :class:`~sklearn_bdistil._losses.BoostingLoss`);
    ``_outputs_key()`` (what identifies the outputs, for warm starts and
    checkpoints); ``_loss_abbrev`` (the verbose table's name of the loss).
    """

    _parameter_constraints = {
        "teacher": "no_validation",
        "students": [list, tuple, None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        # at 0 the player is uniform, D = 0 and so is every edge: no stage could be kept
        "eta": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, -1, 1, closed="both")],
        "barrier_strength": [Interval(Real, 0, None, closed="left")],
        "barrier_delta": [Interval(Real, 0, 1, closed="neither")],
        "label_weight": [Interval(Real, 0, 1, closed="both")],
        "augmentation": [StrOptions(set(AUGMENTATIONS)), callable, None],
        "augmentation_copies": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "corrective_epochs": [Interval(Integral, 0, None, closed="left")],
        "corrective_lr": [Interval(Real, 0, None, closed="neither")],
        "corrective_weight_decay": [Interval(Real, 0, None, closed="left"),
                                    StrOptions({"auto"})],
        "final_corrective_epochs": [Interval(Integral, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "optimizer": [callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
        "teacher_cost": [Interval(Real, 0, None, closed="neither"), None],
        "connection": [StrOptions(set(CONNECTIONS)), callable],
        "warm_start": ["boolean"],
        "stage_callback": [callable, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "device": [str, torch.device],
        "accelerator": [HasMethods(["prepare", "unwrap_model"]), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _loss_abbrev = "loss"

    # ------------------------------------------------------------- the fit

    def _fit(self, X, y, teacher_outputs, groups):
        """``fit``'s body: prepare the transfer set, then run rounds until done."""
        previous = self._previous_stages()
        # a DataFrame reaches the teacher as it is (column names, dtypes), e.g. for
        # a teacher pipeline that selects columns by name; the students get floats
        frame = X if _teacher.is_dataframe(X) else None
        X, y = self._check_fit_data(X, y, teacher_outputs)
        groups = check_groups(groups, X.shape[0])
        students = check_students(self.students, DEFAULT_STUDENTS)
        check_optimizer(self.optimizer, self.weight_decay)
        device = (self.accelerator.device if self.accelerator is not None
                  else resolve_device(self.device, fallback=False))
        # sets teacher_ and the outputs; a warm start keeps the teacher it was fitted with
        G = self._fit_target(X if frame is None else frame, y, teacher_outputs,
                             previous["teacher"] if previous else None)
        loss = self._make_loss()
        problem = (None if self.checkpoint_dir is None
                   else self._checkpoint_problem(X, G, students, groups))
        records, rng, split_seed = self._resume(previous, X.shape[1], students, problem)
        # the rungs above the one the next round builds: a bad one must not wait for an
        # escalation, hours into the fit
        level = records[-1].student_index if records else 0
        probe_students(students[level + 1:], X.shape[1], G.shape[1], self.connection)

        train, valid = split_rows(X.shape[0], self.validation_fraction, split_seed, groups)
        if self.validation_fraction is not None and not len(valid):
            warnings.warn(
                f"validation_fraction={self.validation_fraction} of {X.shape[0]} rows holds "
                "out no row: every stage is judged on the training loss, which cannot see "
                "over-fitting, and the held-out losses are NaN. Give more rows, or "
                "validation_fraction=None to choose this.", UserWarning, stacklevel=4)
        t = Transfer.on_device(X, G, train, valid, device, self.connection != "none",
                               extra=self._augment(X, G.shape[1], train, split_seed, frame))
        initial = (loss.evaluate(t.F, t.G), loss.evaluate(t.Fv, t.Gv))
        self.teacher_cost_ = (float(self.teacher_cost) if self.teacher_cost is not None
                              else teacher_flops(self.teacher_, X.shape[1]))
        for record in records:
            t.replay(record.module, record.connection, record.weight, self.predict_batch_size)
            t.level = record.student_index
        checkpoint = self._open_checkpoint(previous, records, problem, split_seed)

        rejected, attempt, latency = 0, 0, {}
        name_width = self._print_header(students, loss) if self.verbose else None

        def keep(model=None):  # the fitted attributes from the model (the stages so far,
            # or their corrected copies) and the warm-start state (the rounds' stages)
            self._set_fitted_stages(records if model is None else model, initial,
                                    X.shape[1], latency)
            self._remember_fit(records, rng, split_seed)

        interrupted = False
        try:
            while len(records) < self.n_estimators:
                attempt += 1
                start = time.perf_counter()
                last = records[-1] if records else None
                record = self._boost(
                    t, loss, students, rng, last.train_loss if last else initial[0],
                    last.valid_loss if last else initial[1], attempt,
                    (last.module, last.connection) if last else None,
                )
                if record is None:
                    rejected += 1
                    if rejected >= self.n_iter_no_change:
                        raise _Stop(f"{rejected} rounds in a row kept no stage (a stage must "
                                    f"lower the {t.acceptance} {loss.name} and train "
                                    "to finite values; verbose=1 says why each was not kept)",
                                    untrained=True)
                    continue
                rejected = 0
                # an interrupted corrective step leaves the stages as they were, without
                # this one
                corrected = self._correct_stage(t, loss, records + [record], rng)
                record.rng_state = rng.get_state()
                records.append(record)
                if checkpoint is not None:  # a corrective step has changed every stage
                    for k in range(len(records) - 1 if not corrected else 0, len(records)):
                        checkpoint.write_stage(k, records[k])
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
                stacklevel=4,
            )
        except (KeyboardInterrupt, _Interrupt) as stop:
            why = str(stop) if isinstance(stop, _Interrupt) else f"interrupted in round {attempt}"
            interrupted = isinstance(stop, KeyboardInterrupt)
            warnings.warn(
                f"fit {why}; keeping the {len(records)} completed stages"
                + (" (without the final corrective step)."
                   if interrupted and self._runs_final_step(records) else "."),
                FitInterruptedWarning, stacklevel=4,
            )
        except Exception:
            if records:  # an error, e.g. in stage_callback: keep the stages, then raise
                keep()
            raise
        keep(None if interrupted else self._finish(t, loss, records, rng))
        return self

    def _runs_final_step(self, records):
        """Whether the final corrective step applies to these stages: it is on, and
        there are two or more (one stage has nothing between stages to correct)."""
        return self.final_corrective_epochs > 0 and len(records) > 1

    def _finish(self, t, loss, records, rng):
        """The fitted model: the rounds' stages after the final corrective step.

        Once the rounds are over (all stages kept, an early stop or a
        ``stage_callback`` stop; not after Ctrl-C), copies of the stages (two or
        more) are trained again for ``final_corrective_epochs`` epochs on the
        mean over prefixes (:mod:`sklearn_bdistil._corrective`). The rounds' stages stay
        as they were: a warm start or a checkpoint resume continues from them,
        and gives the model of one fit. Returns the records of the corrected
        copies, or ``records`` (step off, not kept, or interrupted).
        """
        if not self._runs_final_step(records):
            return records
        # copied together: a connection may refer to the stages before it
        pairs = copy.deepcopy([(r.module, r.connection) for r in records])
        model = [dataclasses.replace(r, module=m, connection=c)
                 for r, (m, c) in zip(records, pairs, strict=True)]
        # drawn from a copy of the random state: the rounds' state is the same with or
        # without this step
        draw = np.random.RandomState()
        draw.set_state(rng.get_state())
        seed = int(draw.randint(np.iinfo(np.int32).max))
        decay = self.corrective_weight_decay
        try:
            kept = self._correct(t, loss, model, self.final_corrective_epochs,
                                 self.corrective_lr, seed, "final",
                                 0.0 if decay == "auto" else decay)
            if not kept and decay == "auto":  # over-fits without decay: once more with it
                kept = self._correct(t, loss, model, self.final_corrective_epochs,
                                     self.corrective_lr, seed,
                                     f"final (weight decay {AUTO_CORRECTIVE_DECAY:g})",
                                     AUTO_CORRECTIVE_DECAY)
        except KeyboardInterrupt:
            warnings.warn(
                f"fit interrupted in the final corrective step; keeping the {len(records)} "
                "completed stages as they were before it.", FitInterruptedWarning,
                stacklevel=5)
            return records
        return model if kept else records

    def _augment(self, X, n_outputs, train, seed, frame=None):
        """``(X_new, T_new)``: the teacher-labelled rows that enlarge the transfer set.

        ``frame`` is the DataFrame ``X`` came from, if any: the teacher then
        labels the new rows as a DataFrame with its columns.
        """
        if self.augmentation is None or self.augmentation_copies == 0:
            return None
        if not _teacher.is_fitted(self.teacher_):
            raise ValueError(
                f"augmentation={self.augmentation!r} needs a fitted teacher to label the "
                "new rows, but precomputed teacher outputs were given with an unfitted "
                "teacher (or teacher=None). Pass a fitted teacher (e.g. in "
                "sklearn.frozen.FrozenEstimator) or set augmentation=None."
            )
        X_new = augment_rows(X[train], self.augmentation, self.augmentation_copies,
                             (seed, 1))
        rows = X_new if frame is None else _teacher.like_frame(X_new, frame)
        T_new = self._teacher_target(rows)
        if T_new.shape[1] != n_outputs:
            raise ValueError(
                f"The teacher gives {T_new.shape[1]} output columns on the augmented rows "
                f"but {n_outputs} on the transfer set."
            )
        return X_new, T_new

    def _set_fitted_stages(self, records, initial, n_features, latency):
        """Set the fitted attributes from the kept stages (costs: see ``set_stage_costs``)."""
        self.__dict__.pop("_device_stages", None)  # a refit's modules may reuse old ids
        self.estimators_ = [r.module for r in records]
        self.connections_ = [r.connection for r in records]
        self.n_estimators_ = len(records)
        self.estimator_weights_ = np.asarray([r.weight for r in records], dtype=np.float64)
        self.edges_ = np.asarray([r.edge for r in records], dtype=np.float64)
        self.student_indices_ = np.asarray([r.student_index for r in records], dtype=np.intp)
        self.train_loss_ = np.asarray([initial[0]] + [r.train_loss for r in records])
        self.validation_loss_ = np.asarray([initial[1]] + [r.valid_loss for r in records])
        set_stage_costs(self, [r.flops for r in records], n_features, latency)

    # ------------------------------------------------------------ one round

    def _boost(self, t, loss, students, rng, train_loss, valid_loss, attempt, previous):
        """One round on the transfer set ``t``; a :class:`StageRecord` or ``None``.

        ``None`` means the round's stage is rejected (it does not lower the
        loss, or its training diverged); ``_Stop`` ends the fit. Moves
        ``t.level`` up the ladder when a student class is not a weak learner.
        ``previous`` is the last kept ``(student, connection)``, or ``None``.
        """
        D, targets = self._round_targets(t, loss)
        for level in range(t.level, len(students)):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            found = find_wl(self, loss, students[level], t, targets, previous, seed)
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
        valid_out = t.outputs(student, connection, self.predict_batch_size, valid=True)
        step = self._step(t, loss, out[0], valid_out[0], train_loss, valid_loss)
        if isinstance(step, str):
            return self._reject(attempt, step)
        return self._accept(t, student, connection, level, e, step, out, valid_out)

    def _correct_stage(self, t, loss, records, rng):
        """The corrective step after the last kept stage (``corrective_epochs``);
        ``True`` where it was kept."""
        last = records[-1]
        rate = records[-2].corrective_lr if len(records) > 1 else None
        last.corrective_lr = self.corrective_lr if rate is None else rate
        if self.corrective_epochs == 0 or len(records) < 2:
            return False
        decay = self.corrective_weight_decay
        kept = self._correct(t, loss, records, self.corrective_epochs, last.corrective_lr,
                             int(rng.randint(np.iinfo(np.int32).max)), "corrective",
                             0.0 if decay == "auto" else decay)
        if not kept:
            last.corrective_lr /= 2
        return kept

    def _correct(self, t, loss, records, epochs, rate, seed, what, weight_decay):
        """A corrective step over the kept ``records`` (:mod:`sklearn_bdistil._corrective`),
        AdamW with ``weight_decay`` (Adam at 0); ``True`` where it was kept (the stages,
        their recorded losses and ``t``'s sums are then updated; otherwise they are as
        they were)."""
        stages = [(r.module, r.connection) for r in records]
        weights = [r.weight for r in records]
        kept, before, after = corrective_step(
            stages, weights, t, loss, epochs=epochs, lr=rate, batch_size=self.batch_size,
            predict_batch_size=self.predict_batch_size, seed=seed,
            weight_decay=weight_decay)
        if self.verbose:
            print(f"  {what} step at rate {rate:.2g}, {epochs} epochs: mean prefix "
                  f"{loss.name} {before:.4f} -> {after:.4f}" + ("" if kept else ", not kept"))
        if not kept:
            return False
        for student, connection in stages:
            student.to(t.X.device)
            if connection is not None:
                connection.to(t.X.device)
        train, t.S = prefix_outputs(stages, weights, t.X, self.predict_batch_size, t.connected)
        t.F = train[-1]
        if t.has_valid:
            valid, t.Sv = prefix_outputs(stages, weights, t.Xv, self.predict_batch_size,
                                         t.connected)
            t.Fv = valid[-1]
        for k, r in enumerate(records):
            r.train_loss = loss.evaluate(train[k], t.G)
            r.valid_loss = loss.evaluate(valid[k], t.Gv) if t.has_valid else float("nan")
        for student, connection in stages:
            student.cpu()
            if connection is not None:
                connection.cpu()
        return True

    def _round_targets(self, t, loss):
        """``(D, targets)``: the distribution player's signed weights for this round
        and the packed targets FIND_WL trains on; ``_Stop`` where no round can help."""
        residual, scale = loss.residual(t.G, t.F)
        if scale == 0.0:
            raise _Stop("the ensemble matches its target on the transfer set")
        D = signed_weights(residual, self.eta, scale)
        reach = max_edge(D)
        if self.gamma >= reach:  # no student could reach it: do not train any
            raise _Stop(
                f"gamma={self.gamma} is out of reach: no student's edge can exceed "
                f"sum|K+ - K-| = {reach:.4f} this round, which grows with eta={self.eta}; "
                "lower gamma or raise eta"
            )
        return D, pack_targets(t.G, t.F, D)

    def _accept(self, t, student, connection, level, e, step, out, valid_out):
        """Add the stage to the transfer set's ensemble; its :class:`StageRecord`.

        ``step`` is ``_step``'s ``(a, train loss, held-out loss)``; ``out`` and
        ``valid_out`` the student's outputs on the training and held-out rows.
        """
        a, new_train, new_valid = step
        prev_width = None if t.S is None else t.S.shape[1]
        t.accept(a, out, valid_out)
        flops = stage_flops(student, connection, t.X.shape[1], prev_width)
        return StageRecord(module=student.cpu(),
                           connection=None if connection is None else connection.cpu(),
                           weight=a, edge=e, student_index=level, train_loss=new_train,
                           valid_loss=new_valid, flops=flops)

    def _step(self, t, loss, f, fv, train_loss, valid_loss):
        """``(a, train loss, held-out loss)`` of the stage with outputs ``f`` (``fv`` on
        the held-out rows), or why it is rejected (a string).

        The step is ``learning_rate`` times the line search on the training
        rows. Where that step raises the held-out loss, it is cut to
        ``learning_rate`` times the line search on the held-out rows (when
        smaller), and the stage is kept if the cut step lowers the held-out
        loss: a student that over-shoots on unseen rows at the training step
        still helps at a shorter one.
        """
        a = self.learning_rate * loss.step(t.F, f, t.G)
        if a <= 0.0:
            return "no positive step lowers the training loss"
        if not t.has_valid:
            new_train = loss.evaluate(t.F + a * f, t.G)
            if not new_train < train_loss:
                return f"it does not lower the training {loss.name}"
            return a, new_train, float("nan")
        new_valid = loss.evaluate(t.Fv + a * fv, t.Gv)
        if not new_valid < valid_loss:
            cut = self.learning_rate * loss.step(t.Fv, fv, t.Gv)
            if not 0.0 < cut < a:
                return f"it does not lower the held-out {loss.name}"
            cut_valid = loss.evaluate(t.Fv + cut * fv, t.Gv)
            if not cut_valid < valid_loss:
                return f"it does not lower the held-out {loss.name}"
            if self.verbose:
                print(f"  step {a:.3f} raises the held-out {loss.name}; cut to {cut:.3f}")
            a, new_valid = cut, cut_valid
        return a, loss.evaluate(t.F + a * f, t.G), new_valid

    def _reject(self, attempt, why):
        if self.verbose:
            print(f"  round {attempt}: stage rejected, {why}")
        return None

    # ------------------------------------------------------------ verbose

    def _print_header(self, students, loss):
        """Print the legend and the table's header; return the student column's width."""
        width = max(7, *(len(repr(f)) for f in students))
        name = self._loss_abbrev
        print(f"edge: how well the stage's student fits what the ensemble still misses "
              f"(kept from gamma={self.gamma}); step: the stage's weight\n"
              f"train/valid {name}: the ensemble's {loss.name} on the training "
              f"/ held-out rows (a kept stage lowers the valid one)\n"
              "cum FLOPs: per row, of the stages so far; time: seconds of the round")
        print(f"{'stage':>5} {'student':<{width}} {'edge':>7} {'step':>7} "
              f"{'train ' + name:>9} {'valid ' + name:>9} {'cum FLOPs':>10} {'time':>6}")
        return width

    def _print_stage(self, info, width):
        print(f"{info['stage']:>5} {repr(info['student']):<{width}} {info['edge']:>7.4f} "
              f"{info['weight']:>7.3f} {info['train_loss']:>9.4f} {info['valid_loss']:>9.4f} "
              f"{info['cumulative_flops']:>10.0f} {info['seconds']:>5.1f}s")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = fit_teacher_needs_y(self.teacher)
        return tags
