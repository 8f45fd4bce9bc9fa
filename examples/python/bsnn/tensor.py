"""Tensor: a bsnn_tensor over a numpy array, without a copy when it can.

Tensor(a) wraps a float32, C-contiguous, aligned array with
bsnn_tensor_wrap (bsnn reads and writes a's memory) and keeps a referenced
for as long as the Tensor lives, so the memory cannot be freed or reused
under C. Any other array (float64, a strided slice, a list) is converted
once by np.ascontiguousarray(a, dtype=np.float32), and the Tensor then
wraps that copy (copy=False makes it an error instead).
"""
import ctypes

from ._convert import as_float32, fptr
from ._enums import MAX_RANK
from ._handle import Handle
from ._lib import lib, made


class Tensor(Handle):
    """A rank 1..4 float32 tensor borrowing a numpy array's memory."""

    _free_name = "bsnn_tensor_free"

    def __init__(self, data, copy=None):
        arr = as_float32(data, "data", copy)
        if not 1 <= arr.ndim <= MAX_RANK:
            raise ValueError("Tensor: rank %d; bsnn tensors have rank 1..%d"
                             % (arr.ndim, MAX_RANK))
        shape = (ctypes.c_size_t * arr.ndim)(*arr.shape)
        self._array = arr  # referenced before C sees the pointer, freed after the tensor
        self._own(made(lib.bsnn_tensor_wrap(fptr(arr), arr.ndim, shape)))

    @property
    def shape(self):
        """The shape C sees (bsnn_tensor_rank / _dim)."""
        p = self._p()
        return tuple(lib.bsnn_tensor_dim(p, d) for d in range(lib.bsnn_tensor_rank(p)))

    def numpy(self):
        """The array the tensor wraps (the caller's own when no copy was
        needed): C's writes show in it."""
        self._p()
        return self._array

    def __repr__(self):
        return "Tensor(shape=%s)" % (self.shape if not self.closed else "closed",)
