"""Exceptions: one class per bsnn_status, under one base, BsnnError.

Every failed bsnn call raises the class of its status; the exception
carries the status (`.status`, a Status, or the raw int for a code this
package does not know: later libraries may add codes) and bsnn_last_error()
(`.message`, also str(e)), which names the C function, the argument and the
value. Constructors in C return NULL without a status: their failures raise
ConstructorError, with the message.

Several classes also derive from the built-in exception a Python user
would catch (ValueError for bad arguments and shapes, MemoryError, OSError
for files), so `except ValueError` works as expected.
"""
from ._enums import Status


class BsnnError(Exception):
    """A bsnn call failed. `status` is the bsnn_status, `message` the text
    of bsnn_last_error() at the failure."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message


class NullError(BsnnError):
    """BSNN_E_NULL: a required pointer or handle was NULL."""
    status = Status.E_NULL


class ArgumentError(BsnnError, ValueError):
    """BSNN_E_ARG: an argument is out of range or not finite."""
    status = Status.E_ARG


class ShapeError(BsnnError, ValueError):
    """BSNN_E_SHAPE: shapes or sizes do not agree."""
    status = Status.E_SHAPE


class NoMemoryError(BsnnError, MemoryError):
    """BSNN_E_NOMEM: allocation failed; every object is still valid."""
    status = Status.E_NOMEM


class StateError(BsnnError):
    """BSNN_E_STATE: the call is not allowed in the object's current state."""
    status = Status.E_STATE


class FileError(BsnnError, OSError):
    """BSNN_E_IO: a file could not be read or written."""
    status = Status.E_IO


class FormatError(BsnnError, ValueError):
    """BSNN_E_FORMAT: a file or buffer is malformed or unsupported."""
    status = Status.E_FORMAT


class DivergedError(BsnnError, ArithmeticError):
    """BSNN_E_DIVERGED: the loss or a gradient became NaN or infinite
    (the parameters are those before the step that diverged)."""
    status = Status.E_DIVERGED


class UnsupportedError(BsnnError):
    """BSNN_E_UNSUPPORTED: the operation is not available in this build."""
    status = Status.E_UNSUPPORTED


class CallbackError(BsnnError):
    """BSNN_E_CALLBACK: a host hook (the gradient hook) asked to abandon the
    step (the model and optimizer are as before it)."""
    status = Status.E_CALLBACK


class ConstructorError(BsnnError):
    """A C constructor returned NULL (bad argument or out of memory: C
    constructors report no status, only the message)."""


class VersionError(ImportError):
    """The loaded libbsnn is not a version this package was written for."""


# Status -> class; every Status but OK has one (the tests check it).
BY_STATUS = {cls.status: cls for cls in (
    NullError, ArgumentError, ShapeError, NoMemoryError, StateError, FileError,
    FormatError, DivergedError, UnsupportedError, CallbackError)}


def error_for(status, message):
    """The exception for a failed call's status and message."""
    try:
        known = Status(status)
    except ValueError:  # a code newer than this package: keep the number
        return BsnnError(message or "bsnn status %d" % status, status)
    cls = BY_STATUS.get(known)
    if cls is None:
        return BsnnError(message, known)
    return cls(message)
