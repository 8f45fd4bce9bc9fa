"""Checkpoints: model + optimizer state + scheduler position, to resume
training bit-identically (bsnn_checkpoint_*)."""
import ctypes
from typing import NamedTuple, Optional

from ._convert import path
from ._lib import Model as ModelP
from ._lib import Opt, Sched, check, lib, voidp
from .model import Model
from .optimizer import Optimizer
from .scheduler import Scheduler


class Checkpoint(NamedTuple):
    """What load_checkpoint returns; optimizer and scheduler are None when
    the checkpoint holds none. The optimizer is bound to the model (and is
    its `optimizer` attribute, so model.fit continues with it)."""
    model: Model
    optimizer: Optional[Optimizer]
    scheduler: Optional[Scheduler]


def _ptrs(model, optimizer, scheduler):
    return (model._p(), optimizer._p() if optimizer is not None else None,
            scheduler._p() if scheduler is not None else None)


def save_checkpoint(file, model, optimizer=None, scheduler=None):
    """Write a checkpoint atomically."""
    check(lib.bsnn_checkpoint_save(*_ptrs(model, optimizer, scheduler), path(file)))


def checkpoint_bytes(model, optimizer=None, scheduler=None):
    """A checkpoint as bytes."""
    buf, size = voidp(), ctypes.c_size_t()
    check(lib.bsnn_checkpoint_save_alloc(ctypes.byref(buf), ctypes.byref(size),
                                         *_ptrs(model, optimizer, scheduler)))
    try:
        return ctypes.string_at(buf, size.value)
    finally:
        lib.bsnn_buffer_free(buf)


def _adopt(m, o, s):
    model = Model._adopt(m)
    opt = sched = None
    if o:
        opt = Optimizer.__new__(Optimizer)
        opt._own(o)
        model.optimizer = opt
    if s:
        sched = Scheduler.__new__(Scheduler)
        sched._own(s)
    return Checkpoint(model, opt, sched)


def load_checkpoint(file):
    """Read a checkpoint file: Checkpoint(model, optimizer, scheduler)."""
    m, o, s = ModelP(), Opt(), Sched()
    check(lib.bsnn_checkpoint_load(ctypes.byref(m), ctypes.byref(o), ctypes.byref(s), path(file)))
    return _adopt(m, o, s)


def load_checkpoint_bytes(data):
    data = bytes(data)
    m, o, s = ModelP(), Opt(), Sched()
    check(lib.bsnn_checkpoint_load_buffer(ctypes.byref(m), ctypes.byref(o), ctypes.byref(s),
                                          data, len(data)))
    return _adopt(m, o, s)
