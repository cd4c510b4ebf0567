"""Running a fitted or candidate stage on rows: in batches, in eval mode, no gradients.

Used by the rounds (a candidate's outputs on the transfer set), by staged
prediction and early exit, and by the label-trained baselines.
"""

import torch

from sklearn_bdistil._modes import eval_mode
from sklearn_bdistil.students._connections import stage_forward

__all__ = ["forward_in_batches", "stage_outputs"]


@torch.no_grad()
def stage_outputs(student, connection, X, state, batch_size, with_state):
    """``(logits, new state)`` of one stage on ``X``, in batches, in eval mode.

    ``state`` is the previous stage's state for the same rows (``None`` before
    the first stage). Without ``with_state`` the student runs as a plain
    module and the returned state is ``None``. Batches are written into
    preallocated outputs: concatenating a list of per-batch outputs fragments
    the CPU heap, which then holds on to every batch's activations (about
    1 GB for a million rows).
    """
    with eval_mode(student, connection):
        logits = states = None
        for start in range(0, max(len(X), 1), batch_size):
            rows = slice(start, start + batch_size)
            if with_state:
                out, new = stage_forward(student, connection, X[rows],
                                         None if state is None else state[rows])
            else:
                out, new = student(X[rows]), None
            if logits is None:
                logits = out.new_empty((len(X), *out.shape[1:]))
                if new is not None:
                    states = new.new_empty((len(X), *new.shape[1:]))
            logits[rows] = out
            if new is not None:
                states[rows] = new
        return logits, states


def forward_in_batches(module, X, batch_size):
    """Logits of ``module`` on ``X`` (a tensor on the module's device), in eval mode."""
    return stage_outputs(module, None, X, None, batch_size, with_state=False)[0]
