"""The transfer set of one fit, resident on the training device, and its running sums."""

from dataclasses import dataclass, field

import numpy as np
import torch

from sklearn_bdistil._inference import stage_outputs

__all__ = ["Transfer"]


@dataclass
class Transfer:
    """Training rows and held-out rows with everything a round needs.

    ``X``/``Xv``: inputs; ``G``/``Gv``: teacher logits; ``F``/``Fv``: ensemble
    logits so far; ``S``/``Sv``: the last stage's cached state when stages are
    connected (``None`` before the first stage or without connections);
    ``level``: index of the current student class on the escalation ladder;
    ``n_given``: training rows as given, before the transfer set was enlarged
    (the enlarged rows follow them in ``X``); ``scaling_cache``: the input
    statistics the students' :class:`~sklearn_bdistil.students.Standardize`
    layers get, computed once per fit.
    """

    X: torch.Tensor
    G: torch.Tensor
    F: torch.Tensor
    Xv: torch.Tensor
    Gv: torch.Tensor
    Fv: torch.Tensor
    connected: bool = False
    S: torch.Tensor = None
    Sv: torch.Tensor = None
    level: int = 0
    n_given: int = None
    scaling_cache: dict = field(default_factory=dict)

    @classmethod
    def on_device(cls, X, G, train, valid, device, connected, extra=None):
        """Split ``(X, G)`` into training and held-out rows on ``device``.

        ``extra``: ``(X_new, G_new)``, rows that enlarge the training part.
        """
        def as_tensor(a):
            return torch.as_tensor(a, dtype=torch.float32, device=device)

        X_train, G_train = X[train], G[train]
        if extra is not None and len(extra[0]):
            X_train = np.concatenate([X_train, extra[0]])
            G_train = np.concatenate([G_train, extra[1]])
        X_train, G_train, G_valid = as_tensor(X_train), as_tensor(G_train), as_tensor(G[valid])
        return cls(X_train, G_train, torch.zeros_like(G_train),
                   as_tensor(X[valid]), G_valid, torch.zeros_like(G_valid), connected,
                   n_given=len(train))

    @property
    def epoch_rows(self):
        """Rows per FIND_WL epoch: the training rows as given (``None``: all of ``X``)."""
        return None if self.n_given == self.X.shape[0] else self.n_given

    @property
    def has_valid(self):
        return self.Xv.shape[0] > 0

    @property
    def acceptance(self):
        """Which distillation loss a stage must lower."""
        return "held-out" if self.has_valid else "training"

    def inputs(self):
        """What FIND_WL trains on: ``X``, or ``(X, S)`` for a connected stage, whose
        batches are ``[X | S]`` rows (joined per batch, not copied as a whole)."""
        if self.S is None:
            return self.X
        return (self.X, self.S)

    def outputs(self, student, connection, batch_size, valid=False):
        """``(logits, state)`` of a candidate stage on the training or held-out rows."""
        X, S = (self.Xv, self.Sv) if valid else (self.X, self.S)
        if valid and not self.has_valid:
            return torch.zeros_like(self.Fv), None
        return stage_outputs(student, connection, X, S, batch_size, self.connected)

    def accept(self, weight, train_out, valid_out):
        """Add an accepted stage: ``F += a f`` and cache its state."""
        self.F += weight * train_out[0]
        self.S = train_out[1]
        self.Fv += weight * valid_out[0]
        self.Sv = valid_out[1]

    def replay(self, student, connection, weight, batch_size):
        """Add an already fitted stage (warm start, resume from a checkpoint)."""
        device = self.X.device
        student.to(device)
        if connection is not None:
            connection.to(device)
        self.accept(weight, self.outputs(student, connection, batch_size),
                    self.outputs(student, connection, batch_size, valid=True))
        student.cpu()
        if connection is not None:
            connection.cpu()
