"""numpy arrays in, C pointers out; enum names in, enum values out.

The one conversion rule of the package (as_float32): an array that is
already float32 (native byte order), C-contiguous and aligned is used as it
is, without a copy; anything else goes through
np.ascontiguousarray(x, dtype=np.float32) (plus a copy when only the
alignment was wrong), unless the caller passed
copy=False, which makes it an error instead. numpy's own conversion is the
only one, so float64 values are rounded, never reinterpreted as bytes, and
a strided slice is gathered, never read with the wrong stride.
"""
import ctypes
import os

import numpy as np

_F32 = np.dtype(np.float32)


def _why_not_direct(a):
    """Why array a cannot be handed to C as it is (None: it can)."""
    if a.dtype != _F32:
        return "its dtype is %s, not float32" % a.dtype
    if not a.flags.c_contiguous:
        return "it is not C-contiguous (a strided slice or a transpose)"
    if not a.flags.aligned:
        return "it is not aligned for float32"
    return None


def as_float32(x, name, copy=None):
    """x as a float32, C-contiguous, aligned ndarray.

    copy=None: no copy when x already is one, else one conversion.
    copy=False: x must already be one (ValueError naming why not).
    copy=True: always a fresh copy."""
    if copy is False:
        if not isinstance(x, np.ndarray):
            raise ValueError("%s: a %s is not a float32 array and copy=False forbids the "
                             "conversion" % (name, type(x).__name__))
        why = _why_not_direct(x)
        if why:
            raise ValueError("%s: %s, so it would need a copy, and copy=False forbids it; "
                             "pass np.ascontiguousarray(%s, dtype=np.float32)" % (name, why, name))
        return x
    if copy:
        return np.array(x, dtype=_F32, order="C", copy=True)
    a = np.asarray(x)
    if _why_not_direct(a) is None:
        return a
    if a.dtype.kind not in "biuf":
        raise TypeError("%s: an array of %s cannot hold numbers bsnn reads" % (name, a.dtype))
    out = np.ascontiguousarray(a, dtype=_F32)
    return out if out.flags.aligned else out.copy()  # (a copy is aligned)


def rows(x, name, copy=None):
    """x as a 2-D float32 array of rows: (n, features); higher ranks are
    flattened after dimension 0 (a view). 1-D input is refused: one row or
    one feature per row is ambiguous."""
    a = as_float32(x, name, copy)
    if a.ndim < 2:
        raise ValueError("%s: expected rows (a 2-D array: rows, features), got shape %s; "
                         "one row is %s.reshape(1, -1), one feature per row %s.reshape(-1, 1)"
                         % (name, a.shape, name, name))
    if a.shape[0] == 0:
        raise ValueError("%s: no rows (shape %s)" % (name, a.shape))
    return a.reshape(a.shape[0], -1)


def targets(y, n, name="y"):
    """Targets as (n, k) float32: 1-D y becomes one column (class indices
    for softmax cross-entropy, or the one target of a one-output model)."""
    a = as_float32(y, name)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    a = a.reshape(a.shape[0], -1) if a.ndim > 2 else a
    if a.ndim != 2 or a.shape[0] != n:
        from .errors import ShapeError
        raise ShapeError("%s: %d rows of targets for %d rows of inputs (shape %s)"
                         % (name, a.shape[0] if a.ndim else 0, n, a.shape))
    return a


def fptr(a):
    """float * of a float32 ndarray (the caller keeps a alive)."""
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def sizes(values, name):
    """A C size_t array of whole numbers >= 0."""
    vals = [int(v) for v in values]
    if any(v < 0 for v in vals):
        raise ValueError("%s: sizes must be >= 0, got %s" % (name, vals))
    return (ctypes.c_size_t * max(1, len(vals)))(*vals), len(vals)


def enum_value(cls, value, what):
    """An enum member from a member, an int or a case-insensitive name."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        if key in cls.__members__:
            return cls[key]
        raise ValueError("%s: unknown %s %r; one of %s" % (
            what, cls.__name__, value, ", ".join(k.lower() for k in cls.__members__)))
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s: expected a %s, a name or an int, got %r" % (what, cls.__name__, value))
    try:
        return cls(int(value))
    except ValueError:
        return int(value)  # a value a newer library may know: C decides


def path(p):
    """A file name as the bytes C gets; an embedded NUL (which C would cut
    the name at) is refused, as open() refuses it."""
    b = os.fsencode(p)
    if b"\0" in b:
        raise ValueError("path %r: embedded null byte" % (p,))
    return b
