"""The corrective step: every kept stage trained again, together, on the anytime objective.

A round trains one student against the residual of the stages before it, which
stay frozen. A sum of narrow students is one wide student trained a block at a
time, and a block cannot move towards what the later ones need. After each kept
stage from the second on, the corrective step trains all kept students
together (their stage weights fixed) on the mean over prefixes of the task's
loss,

    (1 / k) * sum_{j=1..k} L(F_j ; target),    F_j = a_1 f_1 + ... + a_j f_j,

so every prefix stays a classifier of its own (the objective is the anytime
curve, not the last prefix alone; GrowNet's corrective step, Badirli et al.
2020, fits the last prefix only). Adam, the rate annealed over the step's
epochs; the epoch with the lowest held-out mean is kept, and the step only
where it lowers that mean. A step that does not halves the rate of later
steps: how far a student may move before it over-fits depends on the data
(measured: a rate that helps on letter over-fits every epoch on
Fashion-MNIST's 784 inputs).

The students are trained as copies: an interrupted step leaves the kept
stages as they were.
"""

import copy
import math

import numpy as np
import torch

from sklearn_bdistil._inference import stage_outputs
from sklearn_bdistil.students._connections import stage_forward

__all__ = ["corrective_step", "prefix_outputs"]


def prefix_outputs(stages, weights, X, batch_size, connected):
    """``(prefix logits, last state)``: the ``(k, n, L)`` logits of every prefix on ``X``."""
    total, prefixes, state = 0.0, [], None
    for (student, connection), a in zip(stages, weights, strict=True):
        out, state = stage_outputs(student, connection, X, state, batch_size, connected)
        total = total + a * out
        prefixes.append(total)
    return torch.stack(prefixes), state


def _mean_prefix_loss(loss, stages, weights, X, target, batch_size, connected):
    prefixes, _ = prefix_outputs(stages, weights, X, batch_size, connected)
    return float(np.mean([loss.evaluate(F, target) for F in prefixes]))


def corrective_step(stages, weights, t, loss, *, epochs, lr, batch_size, predict_batch_size,
                    seed, weight_decay=0.0):
    """Train the kept ``stages`` (``(student, connection)`` pairs) together.

    Adam, or AdamW with decoupled ``weight_decay`` where it is not 0.

    Returns ``(kept, before, after)``: whether the step was kept (the stages
    are then updated in place) and the mean prefix loss on the held-out rows
    (the training rows without them) before and after it.
    """
    device = t.X.device
    Xa, Ga = (t.Xv, t.Gv) if t.has_valid else (t.X, t.G)
    connected = t.connected
    trained = [(copy.deepcopy(s).to(device),
                None if c is None else copy.deepcopy(c).to(device)) for s, c in stages]
    modules = [m for pair in trained for m in pair if m is not None]

    def score():
        return _mean_prefix_loss(loss, trained, weights, Xa, Ga, predict_batch_size, connected)

    before = best = score()
    best_state = None
    params = [p for m in modules for p in m.parameters()]
    optimizer = (torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay) if weight_decay
                 else torch.optim.Adam(params, lr=lr))
    generator = torch.Generator().manual_seed(int(seed))
    n = t.epoch_rows or t.X.shape[0]
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * (1 + math.cos(math.pi * epoch / epochs)) / 2
        for m in modules:
            m.train()
        order = torch.randperm(t.X.shape[0], generator=generator)[:n].to(device)
        for start in range(0, n - 1, batch_size):  # no batch of one row (batch norm)
            rows = order[start:start + batch_size]
            x, target = t.X[rows], t.G[rows]
            F, total, state = 0.0, 0.0, None
            for (student, connection), a in zip(trained, weights, strict=True):
                if connected:
                    out, state = stage_forward(student, connection, x,
                                               None if state is None else state.detach())
                else:
                    out = student(x)
                F = F + a * out
                total = total + loss.loss(F, target)
            optimizer.zero_grad()
            (total / len(trained)).backward()
            optimizer.step()
        current = score()
        if current < best:
            best, best_state = current, [copy.deepcopy(m.state_dict()) for m in modules]
    for m in modules:
        m.eval()
    if best_state is None or not math.isfinite(best):
        return False, before, before
    originals = [m for pair in stages for m in pair if m is not None]
    for m, state in zip(originals, best_state, strict=True):
        m.load_state_dict(state)
    return True, before, best
