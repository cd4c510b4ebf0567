"""Intermediate connections: student ``t`` reads the last hidden features of ``t - 1``.

A connected stage is a student's body ``z = body_t(x)``, a connection
``s_t = conn_t(z, s_{t-1})`` and the student's head ``logits = head_t(h_t)``
where ``h_t = conn_t.features(s_t)``. The state ``s`` is the hidden features
``h``, or ``[h | c]`` after an LSTM connection. The previous students are
frozen: their states for the transfer set are computed once per round and
cached, so training round ``t`` costs one student.

| connection | ``h_t`` |
|---|---|
| ``"none"`` | ``body_t(x)`` |
| ``"dense"`` | ``relu(W [body_t(x); h_{t-1}])`` |
| ``"residual"`` | ``body_t(x) + P h_{t-1}`` |
| ``"gru"`` | ``GRUCell(body_t(x), P h_{t-1})`` |
| ``"lstm"`` | ``LSTMCell(body_t(x), (P h_{t-1}, P_c c_{t-1}))`` |

``P`` is a bias-free linear projection where widths differ and the identity
where they agree. A custom connection is a callable
``factory(body_width, prev_width) -> nn.Module`` whose module maps
``(z, h_prev)`` to ``h`` of width ``body_width`` (the head's input).
"""

import torch
from torch import nn

__all__ = ["CONNECTIONS", "Connection", "make_connection", "stage_forward", "state_layout"]

CONNECTIONS = ("none", "dense", "residual", "gru", "lstm")


def _projection(n_in, n_out):
    return nn.Identity() if n_in == n_out else nn.Linear(n_in, n_out, bias=False)


class Connection(nn.Module):
    """Base of the built-in connections.

    Parameters
    ----------
    body_width : int
        Width of the new student's body output (and of its head's input).
    prev_width : int
        Width of the previous stage's hidden features ``h_{t-1}``.
    prev_has_cell : bool
        Whether the previous state is ``[h | c]`` (an LSTM stage).
    """

    has_cell = False

    def __init__(self, body_width, prev_width, prev_has_cell=False):
        super().__init__()
        self.body_width = body_width
        self.prev_width = prev_width
        self.prev_has_cell = prev_has_cell

    def _previous_h(self, state):
        return state[:, :self.prev_width]

    def features(self, state):
        """The hidden features ``h`` of a state (the head's input)."""
        return state[:, :self.body_width]


class DenseConnection(Connection):
    def __init__(self, body_width, prev_width, prev_has_cell=False):
        super().__init__(body_width, prev_width, prev_has_cell)
        self.linear = nn.Linear(body_width + prev_width, body_width)

    def forward(self, z, state):
        return torch.relu(self.linear(torch.cat([z, self._previous_h(state)], dim=1)))


class ResidualConnection(Connection):
    def __init__(self, body_width, prev_width, prev_has_cell=False):
        super().__init__(body_width, prev_width, prev_has_cell)
        self.project = _projection(prev_width, body_width)

    def forward(self, z, state):
        return z + self.project(self._previous_h(state))


class GRUConnection(Connection):
    def __init__(self, body_width, prev_width, prev_has_cell=False):
        super().__init__(body_width, prev_width, prev_has_cell)
        self.project = _projection(prev_width, body_width)
        self.cell = nn.GRUCell(body_width, body_width)

    def forward(self, z, state):
        return self.cell(z, self.project(self._previous_h(state)))


class LSTMConnection(Connection):
    has_cell = True

    def __init__(self, body_width, prev_width, prev_has_cell=False):
        super().__init__(body_width, prev_width, prev_has_cell)
        self.project = _projection(prev_width, body_width)
        self.project_cell = _projection(prev_width, body_width) if prev_has_cell else None
        self.cell = nn.LSTMCell(body_width, body_width)

    def forward(self, z, state):
        h = self.project(self._previous_h(state))
        if self.project_cell is not None:
            c = self.project_cell(state[:, self.prev_width:2 * self.prev_width])
        else:
            c = torch.zeros_like(h)
        h, c = self.cell(z, (h, c))
        return torch.cat([h, c], dim=1)


class _CustomConnection(Connection):
    """Wraps a user's ``module(z, h_prev) -> h``."""

    def __init__(self, module, body_width, prev_width, prev_has_cell=False):
        super().__init__(body_width, prev_width, prev_has_cell)
        self.module = module

    def forward(self, z, state):
        return self.module(z, self._previous_h(state))


_BUILT_IN = {"dense": DenseConnection, "residual": ResidualConnection,
             "gru": GRUConnection, "lstm": LSTMConnection}


def make_connection(connection, body_width, prev_width, prev_has_cell):
    """The connection module of a new stage, or ``None`` for ``"none"``."""
    if connection == "none":
        return None
    if isinstance(connection, str):
        if connection not in _BUILT_IN:
            raise ValueError(f"connection must be one of {CONNECTIONS} or a callable, "
                             f"got {connection!r}.")
        return _BUILT_IN[connection](body_width, prev_width, prev_has_cell)
    if not callable(connection):
        raise TypeError(f"connection must be a string or a callable, got {connection!r}.")
    module = connection(body_width, prev_width)
    if not isinstance(module, nn.Module):
        raise TypeError(f"The connection factory {connection!r} returned "
                        f"{type(module).__name__}, expected a torch.nn.Module.")
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, body_width), torch.zeros(2, prev_width))
    except Exception as exc:
        raise ValueError(f"The connection built by {connection!r} failed on (z, h_prev) of "
                         f"widths ({body_width}, {prev_width}): {exc}") from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, body_width):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"The connection built by {connection!r} must map (z, h_prev) of "
                         f"widths ({body_width}, {prev_width}) to h of width {body_width}; "
                         f"got {shape}.")
    return _CustomConnection(module, body_width, prev_width, prev_has_cell)


def check_connectable(student, factory):
    """Connections need a body (``features``) and a linear ``head``."""
    if not (hasattr(student, "features") and isinstance(getattr(student, "head", None),
                                                        nn.Linear)):
        raise TypeError(
            f"connection needs students with a `features(x)` method and a linear `head` "
            f"(e.g. StudentNet, which the built-in factories return); {factory!r} built a "
            f"{type(student).__name__}."
        )


def state_layout(student, connection):
    """``(width of h, whether the state also carries c)`` after a stage."""
    width = student.head.in_features
    return width, bool(connection is not None and connection.has_cell)


def stage_forward(student, connection, x, state):
    """``(logits, new state)`` of one stage; ``state`` is ``None`` before the first."""
    z = student.features(x)
    if connection is None or state is None:
        return student.head(z), z
    new_state = connection(z, state)
    return student.head(connection.features(new_state)), new_state
