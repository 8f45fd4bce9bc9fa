"""Scheduler: which rows form each batch and how the batch size and the
learning rate evolve (bsnn_scheduler)."""
import ctypes

import numpy as np

from ._convert import sizes
from ._enums import BatchSchedule, LrScaling, LrSchedule, SchedParam
from ._handle import Handle, Settings, bounds_of
from ._lib import check, lib, made


class Scheduler(Handle, Settings):
    """A batch scheduler over n_samples rows; keywords set SchedParam
    settings by name: Scheduler(n, batch_size=64, seed=7, drop_last=True,
    lr_schedule="cosine", lr_step_epochs=30, memory_budget=2**26)."""

    _free_name = "bsnn_scheduler_free"
    _params = SchedParam
    _set_name, _get_name = "bsnn_scheduler_set", "bsnn_scheduler_get"
    _enum_valued = {SchedParam.BATCH_SCHEDULE: BatchSchedule,
                    SchedParam.LR_SCHEDULE: LrSchedule, SchedParam.LR_SCALING: LrScaling}
    _typed = {
        SchedParam.SEED: ("bsnn_scheduler_set_seed", "bsnn_scheduler_get_seed", ctypes.c_uint64),
        SchedParam.MEMORY_BUDGET: ("bsnn_scheduler_set_memory_budget",
                                   "bsnn_scheduler_get_memory_budget", ctypes.c_size_t),
    }

    def __init__(self, n_samples, **settings):
        self._own(made(lib.bsnn_scheduler_create(n_samples)))
        self.configure(**settings)

    def bounds(self, param):
        return bounds_of(lib.bsnn_scheduler_bounds, self._p(), self._param(param))

    def next(self):
        """The next batch: (row indices as an int64 array, epoch_end)."""
        idx, count, end = ctypes.POINTER(ctypes.c_size_t)(), ctypes.c_size_t(), ctypes.c_int()
        check(lib.bsnn_scheduler_next(ctypes.byref(idx), ctypes.byref(count), ctypes.byref(end),
                                      self._p()))
        rows = np.ctypeslib.as_array(idx, (count.value,)).astype(np.int64)  # a copy
        return rows, bool(end.value)

    def batches(self, epochs=1):
        """Yield the row-index arrays of the next `epochs` epochs."""
        done = 0
        while done < epochs:
            rows, end = self.next()
            yield rows
            done += end

    def reset(self):
        """Back to epoch 0, step 0, with the original seed."""
        check(lib.bsnn_scheduler_reset(self._p()))
        return self

    def seek(self, epoch, step=0):
        """Move to batch `step` of epoch `epoch`, as if iterated there."""
        check(lib.bsnn_scheduler_seek(self._p(), epoch, step))
        return self

    def set_batch_steps(self, epochs, batch_sizes):
        """BATCH_SCHEDULE="steps": from epoch epochs[i] on, batch_sizes[i]."""
        e, ne = sizes(epochs, "epochs")
        b, nb = sizes(batch_sizes, "batch_sizes")
        if ne != nb:
            raise ValueError("set_batch_steps: %d epochs, %d batch sizes" % (ne, nb))
        check(lib.bsnn_scheduler_set_batch_steps(self._p(), e, b, ne))
        return self

    def batch_size_at(self, epoch):
        return lib.bsnn_scheduler_batch_size_at(self._p(), epoch)

    def lr(self, base_lr):
        """The lr of the update for the batch last returned by next()."""
        out = ctypes.c_double()
        check(lib.bsnn_scheduler_lr(ctypes.byref(out), self._p(), float(base_lr)))
        return out.value

    epoch = property(lambda self: lib.bsnn_scheduler_epoch(self._p()),
                     doc="Completed epochs.")
    step = property(lambda self: lib.bsnn_scheduler_step(self._p()),
                    doc="Batches handed out in the current epoch.")
    batch_size = property(lambda self: lib.bsnn_scheduler_batch_size(self._p()),
                          doc="The current (or next) epoch's batch size.")
    n_samples = property(lambda self: lib.bsnn_scheduler_n_samples(self._p()))
    total_steps = property(lambda self: lib.bsnn_scheduler_total_steps(self._p()),
                           doc="Updates since the start (the warmup clock).")

    def __len__(self):
        return self.n_samples

    def __repr__(self):
        if self.closed:
            return "Scheduler(closed)"
        return "Scheduler(%d, batch_size=%d, epoch=%d)" % (self.n_samples, self.batch_size,
                                                          self.epoch)
