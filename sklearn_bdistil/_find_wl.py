"""FIND_WL: build one student and train it through skorch.

The transfer set stays resident on the training device for the whole fit, and
skorch is handed whole-tensor minibatches (:class:`TensorBatchIterator`)
instead of its default per-row ``Dataset`` + ``DataLoader`` collation, which
is several times slower than a plain torch loop for small students. The
targets of a batch are the rows of ``[G | F_{t-1} | D]``
(:func:`sklearn_bdistil._loss.pack_targets`), so the loss is an ordinary
skorch criterion. Running a stage on rows (inference) is in
:mod:`sklearn_bdistil._inference`.
"""

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PassthroughScoring
from skorch.hf import AccelerateMixin
from torch import nn

from sklearn_bdistil._modes import seeded
from sklearn_bdistil.students._base import build_student, fit_input_scaling
from sklearn_bdistil.students._connections import (
    check_connectable,
    make_connection,
    stage_forward,
    state_layout,
)

__all__ = ["LR_SCHEDULES", "AcceleratedFindWLNet", "ConnectedTrainer", "EpochLR", "FindWLNet",
           "TensorBatchIterator", "build_stage", "epoch_lr", "find_wl", "set_epoch_lr",
           "train_student"]

#: How a student's learning rate moves over its epochs (``lr_schedule``).
LR_SCHEDULES = ("cosine", "constant")


def epoch_lr(lr, schedule, epoch, n_epochs):
    """The learning rate of epoch ``epoch`` (from 0) of ``n_epochs``.

    ``"constant"``: ``lr``. ``"cosine"``: ``lr * (1 + cos(pi * epoch /
    n_epochs)) / 2``, from ``lr`` in the first epoch down towards 0 in the
    last (torch's ``CosineAnnealingLR`` with ``T_max=n_epochs``, stepped once
    per epoch).
    """
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return lr * (1.0 + math.cos(math.pi * epoch / n_epochs)) / 2.0
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")


def set_epoch_lr(optimizer, lr, schedule, epoch, n_epochs):
    """Write :func:`epoch_lr` into every parameter group of ``optimizer``: any torch
    optimizer, and Accelerate's wrapped one, then steps at that rate."""
    rate = epoch_lr(lr, schedule, epoch, n_epochs)
    for group in optimizer.param_groups:
        group["lr"] = rate


class TensorBatchIterator:
    """Minibatches sliced from tensors that already live on the training device.

    A drop-in for skorch's ``iterator_train``: constructed with the skorch
    dataset and keyword arguments, iterated once per epoch.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        Holds ``X`` and ``y`` as tensors on one device.
    batch_size : int
    shuffle : bool, default=False
    seed : int or None, default=None
        Seeds the per-epoch permutations (drawn on the CPU, so CPU and GPU
        runs visit the rows in the same order).
    epoch_rows : int or None, default=None
        Rows per epoch when the dataset is an enlarged transfer set: each
        epoch takes the next ``epoch_rows`` rows of a running random order of
        all rows (a new order once every row has been visited), so an epoch
        costs one pass over the transfer set as given. ``None``: all rows.
        Needs ``shuffle``.
    process_index, num_processes : int, default=0, 1
        Data-parallel training (skorch's Accelerate integration under
        ``accelerate launch``): every process draws the same order and takes
        every ``num_processes``-th row of each batch, so the processes step
        together through shards of the same global batches.

    When training (``shuffle``), a last batch of a single row per process
    after full batches is dropped (its rows come in other epochs' batches):
    batch normalisation cannot train on one row. A last batch with fewer
    rows than processes is always dropped.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, epoch_rows=None,
                 process_index=0, num_processes=1):
        # a tuple X (rows and a connected stage's cached state) is joined batch by batch,
        # never as a whole: no copy of the transfer set per round
        self._parts = tuple(dataset.X) if isinstance(dataset.X, (tuple, list)) else (dataset.X,)
        self.X, self.y = self._parts[0], dataset.y
        self.batch_size = len(self.X) if batch_size == -1 else int(batch_size)
        self.shuffle = shuffle
        self.process_index, self.num_processes = int(process_index), int(num_processes)
        n = len(self.X)
        self.epoch_rows = n if epoch_rows is None or not shuffle else min(int(epoch_rows), n)
        self._generator = torch.Generator()
        if seed is not None:
            self._generator.manual_seed(int(seed))
        self._order, self._position = None, n

    def __len__(self):
        full, rest = divmod(self.epoch_rows, self.batch_size)
        return full + (rest >= self._smallest_batch())

    def _smallest_batch(self):
        """Rows the last batch of a training epoch needs to be kept."""
        if not self.shuffle or self.epoch_rows <= self.batch_size:
            return self.num_processes
        return max(self.num_processes, min(2 * self.num_processes, self.batch_size))

    def _next_order(self):
        """Indices of the next epoch's rows, continuing the running permutation."""
        n = len(self.X)
        if self.epoch_rows == n:
            return torch.randperm(n, generator=self._generator)
        parts, need = [], self.epoch_rows
        while need:
            if self._position == n:
                self._order, self._position = torch.randperm(n, generator=self._generator), 0
            take = min(need, n - self._position)
            parts.append(self._order[self._position:self._position + take])
            self._position += take
            need -= take
        return torch.cat(parts)

    def _rows(self, index):
        if len(self._parts) == 1:
            return self.X[index]
        return torch.cat([part[index] for part in self._parts], dim=1)

    def __iter__(self):
        n = len(self.X)
        if self.shuffle or self.num_processes > 1:
            order = (self._next_order() if self.shuffle else torch.arange(n)).to(self.X.device)
            # a single process takes each whole batch (the slice [0::1])
            for start in range(0, len(order) - self._smallest_batch() + 1, self.batch_size):
                idx = order[start:start + self.batch_size][self.process_index::self.num_processes]
                yield self._rows(idx), self.y[idx]
        else:
            for start in range(0, n, self.batch_size):
                rows = slice(start, start + self.batch_size)
                yield self._rows(rows), self.y[rows]


class EpochLR(Callback):
    """Sets the optimizer's learning rate at the start of each epoch (:func:`set_epoch_lr`)."""

    def __init__(self, schedule):
        self.schedule = schedule

    def on_epoch_begin(self, net, **kwargs):
        # the net's own on_epoch_begin has already opened this epoch's history row
        set_epoch_lr(net.optimizer_, net.lr, self.schedule, len(net.history) - 1,
                     net.max_epochs)


class EpochProgress(Callback):
    """A tqdm progress bar over one round's training epochs, with the last loss."""

    def __init__(self, description):
        self.description = description

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm  # a dependency of skorch

        self.bar_ = tqdm(total=net.max_epochs, desc=self.description, unit="epoch",
                         leave=False)

    def on_epoch_end(self, net, **kwargs):
        self.bar_.set_postfix(loss=f"{net.history[-1, 'train_loss']:.4f}", refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


class FindWLNet(NeuralNet):
    """skorch net for one FIND_WL round; remembers whether it was interrupted.

    skorch swallows ``KeyboardInterrupt`` inside ``fit`` so an interactive
    user keeps a partly trained net. FIND_WL must instead abandon the round
    (a half-trained student is not a stage), so the interrupt is recorded in
    ``interrupted_`` and the caller re-raises it.
    """

    interrupted_ = False

    @property
    def _default_callbacks(self):
        # Only what FIND_WL reads: skorch's defaults add a validation scorer
        # and a printer, neither of which applies to one boosting round.
        return [("epoch_timer", EpochTimer()),
                ("train_loss", PassthroughScoring(name="train_loss", on_train=True))]

    def fit_loop(self, X, y=None, **fit_params):
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            self.interrupted_ = True
            raise

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch, with one device-to-host copy of the losses per epoch.

        skorch records ``loss.item()`` after every batch, which on a GPU waits
        for the batch to finish: the host can then never run ahead of the
        device, and small students become launch-bound. Here the batch losses
        stay on the device until the epoch ends and are written into the
        history then (the callbacks FIND_WL uses read them only at epoch end).
        """
        if iterator is None:
            return
        batches = self.history[-1]["batches"]
        first, losses, sizes = len(batches), [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach())
            sizes.append(len(batch[0]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
        values = torch.stack(losses).float().tolist() if losses else []
        for entry, loss, size in zip(batches[first:], values, sizes, strict=True):
            entry[prefix + "_loss"] = loss
            entry[prefix + "_batch_size"] = size
        self.history.record(prefix + "_batch_count", len(losses))


class AcceleratedFindWLNet(AccelerateMixin, FindWLNet):
    """:class:`FindWLNet` trained through skorch's Accelerate integration."""

    def _initialize_accelerator(self):
        # The distillation criterion has no parameters, and DistributedDataParallel
        # refuses to wrap a module without any: prepare everything but the criterion.
        criterion, self.criterion_ = self.criterion_, None
        try:
            return super()._initialize_accelerator()
        finally:
            self.criterion_ = criterion


def train_student(module, X, targets, *, criterion, seed, max_epochs, batch_size, lr,
                  optimizer, device, lr_schedule, weight_decay=0.0, epoch_rows=None,
                  accelerator=None, progress=None):
    """Train ``module`` on the FIND_WL objective; return the skorch net.

    Parameters
    ----------
    module : torch.nn.Module
        A freshly built student.
    X : torch.Tensor of shape (n_rows, n_features), on ``device``
    targets : torch.Tensor of shape (n_rows, 3 * n_outputs), on ``device``
        ``[G | F_{t-1} | D]``.
    criterion : (class, dict)
        The skorch criterion and its keyword arguments
        (:meth:`sklearn_bdistil._losses.BoostingLoss.criterion`).
    seed : int
        Seeds the minibatch order and any randomness in the module (dropout).
    lr_schedule : {"cosine", "constant"}
        How the learning rate moves over the epochs (:func:`epoch_lr`).
    weight_decay : float, default=0.0
        Passed to ``optimizer`` as ``weight_decay`` where it is not 0 (every
        torch optimizer takes it; :func:`~sklearn_bdistil._validation.check_optimizer`
        refuses one that does not).
    epoch_rows : int or None, default=None
        Rows per epoch (see :class:`TensorBatchIterator`); ``None``: all rows.
    accelerator : accelerate.Accelerator or None, default=None
        Trains through skorch's ``AccelerateMixin``: the accelerator places
        and wraps the module (data parallel across the processes of
        ``accelerate launch``, mixed precision) and each process trains on its
        shard of every batch. ``X`` and ``targets`` must already be on
        ``accelerator.device``.
    progress : str or None, default=None
        Show a progress bar over the epochs, with this description.

    Returns
    -------
    net : FindWLNet
        ``net.module_`` is the trained student; ``net.history`` its losses;
        ``net.interrupted_`` whether the user stopped it.
    """
    kwargs = {"device": device}
    net_class = FindWLNet
    if accelerator is not None:
        net_class = AcceleratedFindWLNet
        kwargs = {"accelerator": accelerator, "device": None,
                  "iterator_train__process_index": accelerator.process_index,
                  "iterator_train__num_processes": accelerator.num_processes}
    if weight_decay:
        kwargs["optimizer__weight_decay"] = weight_decay
    criterion_class, criterion_kwargs = criterion
    kwargs.update({f"criterion__{k}": v for k, v in criterion_kwargs.items()})
    net = net_class(
        module,
        criterion=criterion_class,
        optimizer=optimizer,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train=TensorBatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__epoch_rows=epoch_rows,
        train_split=None,
        predict_nonlinearity=None,
        verbose=0,
        callbacks=[("lr_schedule", EpochLR(lr_schedule)),
                   *([] if progress is None else [("progress", EpochProgress(progress))])],
        **kwargs,
    )
    held = _accelerator_lists(accelerator)
    try:
        with seeded(seed, device):
            net.fit(X, targets)
    finally:
        _release(accelerator, held)
    return net


_ACCELERATOR_LISTS = ("_models", "_optimizers", "_schedulers", "_dataloaders")


def _accelerator_lists(accelerator):
    """Lengths of the lists in which ``accelerator.prepare`` keeps what it wrapped."""
    if accelerator is None:
        return {}
    return {name: len(items) for name in _ACCELERATOR_LISTS
            if isinstance(items := getattr(accelerator, name, None), list)}


def _release(accelerator, held):
    """Drop what this round's ``prepare`` added: otherwise the accelerator keeps every
    round's student and optimizer state (device memory, and the pickled estimator)."""
    for name, n in held.items():
        del getattr(accelerator, name)[n:]


def build_stage(factory, n_features, n_classes, connection, previous, seed):
    """A fresh student and, after a first stage, its connection to ``previous``.

    ``connection`` is the estimator's ``connection`` parameter; ``previous``
    the previous stage's ``(student, connection)`` or ``None``.
    """
    student = build_student(factory, n_features, n_classes, seed)
    if connection == "none":
        return student, None
    check_connectable(student, factory)
    if previous is None:
        return student, None
    prev_width, prev_has_cell = state_layout(*previous)
    with seeded(seed):
        link = make_connection(connection, student.head.in_features, prev_width,
                               prev_has_cell)
    return student, link


def find_wl(estimator, loss, factory, t, targets, previous, seed):
    """Build and train one stage; ``(student, connection, train outputs)`` or ``None``.

    ``estimator`` supplies the training settings, ``loss`` the task's
    :class:`~sklearn_bdistil._losses.BoostingLoss` (its criterion), ``t`` is the
    :class:`~sklearn_bdistil._transfer.Transfer` set and ``targets`` the
    packed ``[G | F | D]``. A student whose loss or outputs turn non-finite is
    retrained once with a ten times smaller learning rate, then given up
    (never added).
    """
    est = estimator
    inputs, n_features = t.inputs(), t.X.shape[1]
    for lr in (est.lr, est.lr / 10):
        student, connection = build_stage(factory, n_features, t.G.shape[1],
                                          est.connection, previous, seed)
        # built-in students scale their inputs: statistics of the training rows as given
        fit_input_scaling(student, t.X[:t.n_given], cache=t.scaling_cache)
        module = (student if connection is None
                  else ConnectedTrainer(student, connection, n_features))
        net = train_student(
            module.to(t.X.device), inputs, targets, criterion=loss.criterion(), seed=seed,
            max_epochs=est.max_epochs, batch_size=est.batch_size, lr=lr,
            optimizer=est.optimizer, device=t.X.device, lr_schedule=est.lr_schedule,
            weight_decay=est.weight_decay, epoch_rows=t.epoch_rows,
            accelerator=est.accelerator,
            progress=f"{factory!r}" if est.verbose >= 2 else None,
        )
        if net.interrupted_:
            raise KeyboardInterrupt
        out = t.outputs(student, connection, est.predict_batch_size)
        losses = net.history[:, "train_loss"] if len(net.history) else [float("nan")]
        if torch.isfinite(out[0]).all() and np.isfinite(losses).all():
            return student.eval(), None if connection is None else connection.eval(), out
        if est.verbose:
            print(f"  {factory!r}: non-finite loss with lr={lr:g}")
    return None


class ConnectedTrainer(nn.Module):
    """A connected stage as one skorch module: the previous state rides in ``X``.

    skorch feeds rows of ``[x | s_{t-1}]``; the first ``n_features`` columns
    are the input row, the rest the frozen previous stage's cached state.
    """

    def __init__(self, student, connection, n_features):
        super().__init__()
        self.student = student
        self.connection = connection
        self.n_features = n_features

    def forward(self, xs):
        x, state = xs[:, :self.n_features], xs[:, self.n_features:]
        return stage_forward(self.student, self.connection, x, state)[0]
