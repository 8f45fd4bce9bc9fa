"""History: per-epoch training records (bsnn_history), as numpy columns."""
import ctypes

import numpy as np

from ._convert import enum_value, path
from ._enums import HistField
from ._handle import Handle
from ._lib import check, lib, made

# Keras's names for the columns Keras users look for in History.history.
KERAS_NAMES = {"loss": HistField.TRAIN_LOSS, "val_loss": HistField.VAL_LOSS,
               "val_accuracy": HistField.VAL_ACCURACY, "lr": HistField.LR}


class History(Handle):
    """Rows of HistField columns, one per epoch, appended by Model.fit.
    h["val_loss"] (or h[HistField.VAL_LOSS]) is a column as a float64
    array; h.history is the Keras-style dict of lists."""

    _free_name = "bsnn_history_free"

    def __init__(self):
        self._own(made(lib.bsnn_history_create()))

    def __len__(self):
        return lib.bsnn_history_size(self._p())

    def get(self, row, field):
        out = ctypes.c_double()
        check(lib.bsnn_history_get(ctypes.byref(out), self._p(), row,
                                   enum_value(HistField, field, "History field")))
        return out.value

    def column(self, field):
        f = KERAS_NAMES.get(field, field) if isinstance(field, str) else field
        f = enum_value(HistField, f, "History field")
        return np.array([self.get(r, f) for r in range(len(self))], dtype=np.float64)

    __getitem__ = column

    def as_dict(self):
        """Every column, by lowercase field name."""
        return {f.name.lower(): self.column(f) for f in HistField}

    @property
    def history(self):
        """Keras's History.history: {"loss": [...], "val_loss": [...], ...};
        validation entries only when the fit had validation data."""
        out = {}
        for name, f in KERAS_NAMES.items():
            col = self.column(f)
            if name.startswith("val_") and np.isnan(col).all():
                continue
            out[name] = col.tolist()
        return out

    @property
    def epoch(self):
        return self.column(HistField.EPOCH).astype(np.int64).tolist()

    def clear(self):
        check(lib.bsnn_history_clear(self._p()))
        return self

    def write_csv(self, file):
        """Write the rows as CSV, atomically (temporary file, rename)."""
        check(lib.bsnn_history_write_csv(self._p(), path(file)))

    def __repr__(self):
        return "History(closed)" if self.closed else "History(%d epochs)" % len(self)
