"""Stage records, and writing / reading them to a checkpoint directory.

A checkpoint directory holds ``meta.json`` (what the fit was: feature count,
classes, the split seed, the students and connection, the training settings
and a fingerprint of the transfer set and teacher logits) and, per kept stage
``k``, ``stage_{k:04d}.pt`` (the student's ``state_dict``, tensors only) and
``stage_{k:04d}.json`` (its step, edge, student class, losses, cost and the
random state after it). Loading uses ``torch.load(..., weights_only=True)``
and JSON: nothing in the directory can run code. Files are written to a
temporary name and renamed, so a fit killed mid-write leaves the previous
stages intact.
"""

import hashlib
import json
import os
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["StageRecord", "CheckpointDir"]

FORMAT_VERSION = 3  # 3: built-in students hold input statistics


@dataclass
class StageRecord:
    """One kept stage and the numbers the fit recorded about it."""

    module: torch.nn.Module = field(repr=False)
    connection: torch.nn.Module = field(repr=False)
    weight: float
    edge: float
    student_index: int
    train_loss: float
    valid_loss: float
    flops: float
    #: ``RandomState.get_state()`` of the fit's random state right after this
    #: stage, from which a resume at this stage continues (``None``: unknown)
    rng_state: tuple = field(default=None, repr=False, compare=False)
    #: the rate of the corrective step after the next stage (halved after a step
    #: that was not kept; ``None``: the estimator's ``corrective_lr``)
    corrective_lr: float = field(default=None, repr=False, compare=False)


def _container(module, connection):
    """Student and connection under one ``state_dict`` (keys ``student.*``, ``connection.*``)."""
    parts = {"student": module}
    if connection is not None:
        parts["connection"] = connection
    return torch.nn.ModuleDict(parts)


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"Checkpoint file {str(path)!r} is unreadable: {exc}") from exc


def describe(obj):
    """A description of a student factory, connection or setting, stable across processes.

    ``repr`` of a function, a lambda or a ``functools.partial`` contains a
    memory address; those are described by their qualified name instead.
    Lambdas and local functions share qualified names (``<lambda>``), so
    theirs carries a digest of their code and of the values they close over.
    """
    import functools

    if isinstance(obj, functools.partial):
        return (f"partial({describe(obj.func)}, *{obj.args!r}, "
                f"**{dict(sorted(obj.keywords.items()))!r})")
    if callable(obj) and hasattr(obj, "__qualname__"):  # a function or a class
        name = f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
        if "<" in obj.__qualname__ and isinstance(obj, types.FunctionType):
            name += f"[{_function_digest(obj)}]"
        return name
    return repr(obj)


def _function_digest(func, depth=0):
    """Digest of a function's byte code, constants, names, defaults and closure values."""
    digest = hashlib.blake2b(digest_size=8)

    def add_code(code):
        digest.update(code.co_code)
        digest.update(repr(code.co_names).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add_code(const)
            else:
                digest.update(repr(const).encode())

    add_code(func.__code__)
    values = list(func.__defaults__ or ()) + [c.cell_contents for c in func.__closure__ or ()]
    for value in values:  # a value with an address in its repr never matches: safe
        text = (_function_digest(value, depth + 1)
                if isinstance(value, types.FunctionType) and depth < 3 else describe(value))
        digest.update(text.encode())
    return digest.hexdigest()


def fingerprint(*arrays):
    """Digest of the shapes, dtypes and bytes of numpy arrays."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype.str}".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def _atomic_write(path, write):
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _jsonable_classes(classes):
    return [c.item() if hasattr(c, "item") else str(c) for c in classes]


class CheckpointDir:
    """The checkpoint directory of one fit.

    Parameters
    ----------
    path : str or os.PathLike
    """

    def __init__(self, path):
        self.path = Path(path)

    def _stage_paths(self, k):
        return self.path / f"stage_{k:04d}.pt", self.path / f"stage_{k:04d}.json"

    @staticmethod
    def problem(n_features, classes, students, connection, data, settings):
        """What a directory's stages depend on, as stored in ``meta.json``.

        ``data`` is the :func:`fingerprint` of the transfer set and the teacher
        logits; ``settings`` the training parameters by name.
        """
        return {"n_features_in": int(n_features), "classes": _jsonable_classes(classes),
                "students": [describe(s) for s in students],
                "connection": describe(connection), "data": data,
                "settings": {k: describe(v) for k, v in sorted(settings.items())}}

    def write_meta(self, problem, split_seed):
        self.path.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT_VERSION, "split_seed": int(split_seed), **problem}
        _atomic_write(self.path / "meta.json", lambda p: p.write_text(json.dumps(meta)))

    def read_meta(self):
        path = self.path / "meta.json"
        return _read_json(path) if path.exists() else None

    def has_stage(self, k):
        return all(p.exists() for p in self._stage_paths(k))

    def remove_stages_from(self, k):
        """Delete the files of stages ``k, k+1, ...`` (a later fit's, to be redone)."""
        while any(p.exists() for p in self._stage_paths(k)):
            for p in self._stage_paths(k):
                p.unlink(missing_ok=True)
            k += 1

    def write_stage(self, k, record):
        """Write stage ``k`` (0-based) and the random state after it (``record.rng_state``)."""
        if record.rng_state is None:
            raise ValueError(f"Stage {k} has no random state to resume from.")
        pt, js = self._stage_paths(k)
        state = {name: t.detach().cpu()
                 for name, t in _container(record.module, record.connection).state_dict().items()}
        _atomic_write(pt, lambda p: torch.save(state, p))
        info = {key: getattr(record, key) for key in
                ("weight", "edge", "student_index", "train_loss", "valid_loss", "flops")}
        info["corrective_lr"] = record.corrective_lr
        name, keys, pos, has_gauss, cached = record.rng_state
        info["rng_state"] = [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]
        _atomic_write(js, lambda p: p.write_text(json.dumps(info)))

    def read_stages(self, build, limit):
        """Load the stages in order, stopping at the first incomplete one.

        Parameters
        ----------
        limit : int
            Load at most this many stages.
        build : callable
            ``build(student_index, previous) -> (student, connection)``: a fresh
            stage of that student class, connected to ``previous`` (the last
            loaded ``(student, connection)`` or ``None``), whose parameters the
            saved ``state_dict`` replaces.

        Returns
        -------
        records : list of StageRecord
        rng_state : tuple or None
            For ``RandomState.set_state``, after the last stage.
        """
        records, rng_state = [], None
        for k in range(limit):
            pt, js = self._stage_paths(k)
            if not (pt.exists() and js.exists()):
                break
            info = _read_json(js)
            previous = (records[-1].module, records[-1].connection) if records else None
            module, connection = build(int(info["student_index"]), previous)
            try:
                state = torch.load(pt, weights_only=True, map_location="cpu")
                _container(module, connection).load_state_dict(state)
            except Exception as exc:  # refused unsafe content, or another architecture
                raise ValueError(
                    f"Checkpoint file {str(pt)!r} cannot be loaded as tensors of this "
                    f"student: {exc}"
                ) from exc
            records.append(StageRecord(
                module=module.eval(),
                connection=None if connection is None else connection.eval(),
                weight=float(info["weight"]),
                edge=float(info["edge"]),
                student_index=int(info["student_index"]),
                train_loss=float(info["train_loss"]), valid_loss=float(info["valid_loss"]),
                flops=float(info["flops"]), corrective_lr=info.get("corrective_lr"),
            ))
            name, keys, pos, has_gauss, cached = info["rng_state"]
            rng_state = (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
            records[-1].rng_state = rng_state
        return records, rng_state

    def check_compatible(self, meta, problem):
        """Raise ``ValueError`` when the directory belongs to another problem or fit.

        ``problem`` is :meth:`problem`'s description of this fit.
        """
        where = f"checkpoint_dir {str(self.path)!r}"
        restart = "Use another directory, or delete this one to start over."
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{where} was written by another version of sklearn_bdistil "
                             f"(format {meta.get('format')!r}, now {FORMAT_VERSION}). {restart}")
        for key, value in problem.items():
            if key not in ("data", "settings") and meta.get(key) != value:
                raise ValueError(
                    f"{where} holds a fit with {key}={meta.get(key)!r}, but this fit has "
                    f"{key}={value!r}. {restart}"
                )
        if meta["data"] != problem["data"]:
            raise ValueError(
                f"{where} holds a fit on other data: X or the teacher's logits differ from "
                "this fit's. A checkpoint directory belongs to one fit; in a search or "
                f"cross-validation, give each fit its own or none. {restart}")
        changed = {k: (meta["settings"].get(k), v) for k, v in problem["settings"].items()
                   if meta["settings"].get(k) != v}
        if changed:
            raise ValueError(
                f"{where} holds a fit with other training settings: "
                + "; ".join(f"{k}={old} there, {new} here" for k, (old, new) in changed.items())
                + f". {restart}")
