"""Continuing a fit: warm start and checkpoint resume.

:class:`ResumableFitMixin` holds what ``fit`` needs to start
from stages fitted before (``warm_start=True``, or a ``checkpoint_dir`` that
already holds stages), to check that they belong to this fit, and to write
them to a checkpoint directory.
"""

import dataclasses
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from sklearn_bdistil._checkpoint import CheckpointDir, describe, fingerprint
from sklearn_bdistil._find_wl import build_stage

__all__ = ["CHECKPOINT_SETTINGS", "ResumableFitMixin"]

#: Parameters the stages in a ``checkpoint_dir`` depend on, besides the data, the
#: students, the connection and ``random_state``: resuming with others is refused.
CHECKPOINT_SETTINGS = ("eta", "gamma", "barrier_strength", "barrier_delta", "temperature",
                       "label_weight",
                       "augmentation", "augmentation_copies", "learning_rate", "max_epochs",
                       "batch_size", "lr", "lr_schedule", "optimizer",
                       "weight_decay",
                       "corrective_epochs", "corrective_lr", "corrective_weight_decay",
                       "validation_fraction")


class ResumableFitMixin:
    """Warm start and checkpoint resume for the estimators of :mod:`sklearn_bdistil._base`."""

    def _remember_fit(self, records, rng, split_seed):
        """What a warm start continues from: the rounds' stages (``records``, before
        the final corrective step), the random state, the held-out split's seed, and
        the teacher and connection the stages were fitted with."""
        self._round_records = list(records)
        self._rng, self._split_seed, self._fitted_from = rng, split_seed, self.teacher
        self._fitted_connection = describe(self.connection)

    def _previous_stages(self):
        """The fitted stages to continue from with ``warm_start``, before ``fit`` resets."""
        if not self.warm_start or not hasattr(self, "estimators_"):
            return None
        if self.n_estimators < self.n_estimators_:
            raise ValueError(
                f"n_estimators={self.n_estimators} must be at least the "
                f"{self.n_estimators_} stages already fitted when warm_start=True."
            )
        # the rounds' stages (before the final corrective step), as records of their own:
        # the new fit updates their losses and rates
        records = [dataclasses.replace(r) for r in self._round_records]
        # the same teacher object, unless the user has set another one
        teacher = self.teacher_ if self.teacher is self._fitted_from else None
        return {"records": records, "n_features": self.n_features_in_, "teacher": teacher,
                "outputs": self._outputs_key(), "rng": self._rng, "split_seed": self._split_seed,
                "connection": getattr(self, "_fitted_connection", None)}

    def _checkpoint_problem(self, X, G, students, groups=None):
        """What the stages in ``checkpoint_dir`` depend on (see ``CheckpointDir.problem``)."""
        settings = {name: getattr(self, name) for name in CHECKPOINT_SETTINGS
                    if hasattr(self, name)}  # a regressor has no temperature
        settings["random_state"] = (int(self.random_state)
                                    if isinstance(self.random_state, Integral) else None)
        data = (X.astype(np.float32, copy=False), G) + (() if groups is None else (groups,))
        return CheckpointDir.problem(X.shape[1], self._outputs_key(), students, self.connection,
                                     fingerprint(*data), settings)

    def _resume(self, previous, n_features, students, problem):
        """Stages to start from (warm start, then checkpoint), the RNG and the split seed."""
        if previous is not None:
            if previous["n_features"] != n_features or not np.array_equal(
                    previous["outputs"], self._outputs_key()):
                what = "classes" if hasattr(self, "classes_") else "outputs"
                raise ValueError(
                    "warm_start=True continues the previous fit, which had "
                    f"{previous['n_features']} features and {what} "
                    f"{np.asarray(previous['outputs']).tolist()}; X or the teacher has "
                    "changed (a teacher without classes_ needs the same y, or classes=, "
                    "each time). Set warm_start=False to start over."
                )
            connection = describe(self.connection)
            if previous["connection"] is not None and previous["connection"] != connection:
                raise ValueError(
                    "warm_start=True continues the previous fit, whose stages were fitted "
                    f"with connection={previous['connection']}, but connection is now "
                    f"{connection}: the kept stages would not be run as they were "
                    "trained. Keep the connection, or set warm_start=False to start over."
                )
            used = max((r.student_index for r in previous["records"]), default=-1)
            if used >= len(students):
                raise ValueError(
                    f"warm_start=True continues the previous fit, whose stages use entry "
                    f"{used} of students, but students now has {len(students)} entries. "
                    "Keep the ladder (more entries may be appended), or set "
                    "warm_start=False to start over."
                )
            return previous["records"], previous["rng"], previous["split_seed"]
        if self.checkpoint_dir is not None:
            checkpoint = CheckpointDir(self.checkpoint_dir)
            meta = checkpoint.read_meta()
            if meta is not None:
                checkpoint.check_compatible(meta, problem)
                records, rng_state = checkpoint.read_stages(
                    lambda i, previous: build_stage(students[i], n_features,
                                                    len(self._outputs_key()),
                                                    self.connection, previous, 0),
                    limit=self.n_estimators)
                if records:
                    rng = np.random.RandomState()
                    rng.set_state(rng_state)
                    return records, rng, meta["split_seed"]
        rng = check_random_state(self.random_state)
        return [], rng, int(rng.randint(np.iinfo(np.int32).max))

    def _open_checkpoint(self, previous, records, problem, split_seed):
        """The ``CheckpointDir`` this process writes (``None``: none, or not the main
        process), with the stages the fit starts from already in it."""
        if self.checkpoint_dir is None or not (self.accelerator is None
                                               or self.accelerator.is_main_process):
            return None
        checkpoint = CheckpointDir(self.checkpoint_dir)
        meta = checkpoint.read_meta() if previous is not None else None
        if meta is not None:  # a warm start into a directory: only of this same fit
            checkpoint.check_compatible(meta, problem)
        checkpoint.write_meta(problem, split_seed)
        for k, record in enumerate(records):
            # a warm start's stages are this fit's (the directory may be new)
            if previous is not None or not checkpoint.has_stage(k):
                checkpoint.write_stage(k, record)
        if previous is not None:  # stages after them are redone by this fit
            checkpoint.remove_stages_from(len(records))
        return checkpoint
