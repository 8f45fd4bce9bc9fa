"""Dataset: rows of inputs and targets (bsnn_dataset).

Dataset(x, y) copies into bsnn (bsnn_dataset_create), so it never refers to
the arrays it was made from; Dataset(x, y, borrow=True) wraps them instead
(bsnn_dataset_wrap: no copy of float32 C-contiguous arrays) and keeps them
alive for as long as the dataset lives. `x` and `y` return copies either
way, so no array ever points into memory that closing the dataset frees.
"""
import ctypes

import numpy as np

from ._convert import as_float32, enum_value, fptr, path, rows, sizes, targets
from ._enums import Feature, Playground, PlaygroundFlag
from ._handle import Handle
from ._lib import Data, check, lib, made


class Dataset(Handle):
    """Dataset(x, y): x is (rows, features) (higher ranks are flattened
    after the first dimension), y is (rows, targets) or 1-D (one target
    per row: a class index for softmax cross-entropy). Both are converted
    to float32 as every input is (see Tensor) and copied into bsnn, or,
    with borrow=True, borrowed (the arrays must not change while the
    dataset is used; fit and evaluate borrow the arrays they are given)."""

    _free_name = "bsnn_dataset_free"

    def __init__(self, x, y, borrow=False):
        xs = rows(x, "x")
        ys = targets(y, xs.shape[0])
        make = lib.bsnn_dataset_wrap if borrow else lib.bsnn_dataset_create
        self._own(made(make(fptr(xs), fptr(ys), xs.shape[0], xs.shape[1], ys.shape[1])))
        # bsnn reads a borrowed dataset's arrays in place: keep them alive.
        self._borrowed = (xs, ys) if borrow else None

    @classmethod
    def _adopt(cls, ptr):
        """A Dataset owning a handle a C function made."""
        obj = cls.__new__(cls)
        obj._borrowed = None
        obj._own(made(ptr))
        return obj

    # --- generators and loaders ---
    @classmethod
    def parity(cls, bits):
        """All 2^bits rows of bits 0/1 inputs, target 1 for odd parity."""
        return cls._adopt(lib.bsnn_dataset_parity(bits))

    @classmethod
    def playground(cls, name, n, noise=0.0, seed=0, labels01=False):
        """n points of a TensorFlow Playground set ("circle", "xor", "gauss",
        "spiral", "plane", "multi_gauss"); labels01: classes 1/0, not +1/-1."""
        flags = PlaygroundFlag.LABELS_01 if labels01 else 0
        return cls._adopt(lib.bsnn_dataset_playground(enum_value(Playground, name, "playground"),
                                                      n, float(noise), seed, flags))

    @classmethod
    def toy1d(cls):
        """The 1-D toy of the batch-size study: (train, test)."""
        a, b = Data(), Data()
        check(lib.bsnn_dataset_toy1d(ctypes.byref(a), ctypes.byref(b)))
        return cls._adopt(a), cls._adopt(b)

    @classmethod
    def load_csv(cls, file, targets, header="auto"):
        """A CSV file of numbers; targets: the 0-based column(s) that hold
        the targets; header: True, False or "auto" (detect)."""
        cols, n = sizes([targets] if isinstance(targets, int) else targets, "targets")
        h = {True: 1, False: 0, "auto": -1}.get(header)
        if h is None:
            raise ValueError("load_csv: header must be True, False or 'auto', got %r" % (header,))
        return cls._adopt(lib.bsnn_dataset_load_csv(path(file), h, cols, n))

    @classmethod
    def load_idx(cls, images, labels, max_rows=0):
        """An uncompressed MNIST-style IDX pair (bytes scaled to [0, 1]);
        labels become one column of class indices."""
        return cls._adopt(lib.bsnn_dataset_load_idx(path(images), path(labels), max_rows))

    # --- shape and contents ---
    def __len__(self):
        return lib.bsnn_dataset_size(self._p())

    n_inputs = property(lambda self: lib.bsnn_dataset_n_inputs(self._p()))
    n_targets = property(lambda self: lib.bsnn_dataset_n_targets(self._p()))

    def _copy_of(self, ptr, width):
        return np.ctypeslib.as_array(ptr, (len(self), width)).copy()

    @property
    def x(self):
        """A copy of the inputs, (rows, n_inputs) float32."""
        return self._copy_of(lib.bsnn_dataset_inputs(self._p()), self.n_inputs)

    @property
    def y(self):
        """A copy of the targets, (rows, n_targets) float32."""
        return self._copy_of(lib.bsnn_dataset_targets(self._p()), self.n_targets)

    # --- preparation ---
    def split(self, fraction, seed=0):
        """Two new datasets: a random `fraction` of the rows, and the rest."""
        a, b = Data(), Data()
        check(lib.bsnn_dataset_split(ctypes.byref(a), ctypes.byref(b), self._p(), float(fraction),
                                     seed))
        return Dataset._adopt(a), Dataset._adopt(b)

    def features(self, *names):
        """A new dataset of Playground features of a 2-input dataset:
        ds.features("x1", "x2", "sin_x1") (or Feature flags)."""
        mask = 0
        for n in names:
            mask |= enum_value(Feature, n, "feature")
        return Dataset._adopt(lib.bsnn_dataset_features(self._p(), mask))

    def input_stats(self):
        """Per-input mean and std (population, constant columns std 1)."""
        k = self.n_inputs
        mean, std = np.empty(k, np.float32), np.empty(k, np.float32)
        check(lib.bsnn_dataset_input_stats(fptr(mean), fptr(std), k, self._p()))
        return mean, std

    def standardize(self, mean, std):
        """In place: x = (x - mean) / std per input column."""
        m, s = as_float32(mean, "mean").ravel(), as_float32(std, "std").ravel()
        if m.size != s.size:
            raise ValueError("standardize: mean has %d values, std %d" % (m.size, s.size))
        check(lib.bsnn_dataset_standardize(self._p(), fptr(m), fptr(s), m.size))
        return self

    def one_hot(self, n_classes):
        """A new dataset with one-hot targets from one class-index column."""
        return Dataset._adopt(lib.bsnn_dataset_one_hot(self._p(), n_classes))

    def __repr__(self):
        if self.closed:
            return "Dataset(closed)"
        return "Dataset(%d rows, %d inputs, %d targets)" % (len(self), self.n_inputs,
                                                           self.n_targets)


def coerce(data, name):
    """A Dataset from a Dataset or an (x, y) pair; (dataset, made_here)."""
    if isinstance(data, Dataset):
        data._p()
        return data, False
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return Dataset(*data, borrow=True), True
    raise TypeError("%s: expected a Dataset or an (x, y) pair, got %s"
                    % (name, type(data).__name__))
