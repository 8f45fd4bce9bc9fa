"""The base of every object that owns a C handle, and the settings shape
(set / get / bounds) they share.

A Handle frees its C object exactly once: at close(), at the end of a
`with` block, or when it is garbage collected (weakref.finalize, which also
runs at interpreter exit). A handle given away to C (a layer added to a
model) drops its finalizer and becomes a borrowed view that the owner's
lifetime guards.
"""
import ctypes
import weakref
from typing import NamedTuple

from ._convert import enum_value
from ._enums import BoundFlag
from ._lib import check, lib


class Handle:
    """Owns one C handle (self._ptr) and the function that frees it."""

    _free_name = None  # name of the bsnn_*_free function, set by subclasses

    def _own(self, ptr):
        self._ptr = ptr
        self._owner = None
        self._finalizer = weakref.finalize(self, getattr(lib, self._free_name), ptr)

    @classmethod
    def _borrowed(cls, ptr, owner):
        """A view of a C object that `owner` (a Handle) owns and frees."""
        obj = cls.__new__(cls)
        obj._ptr, obj._owner, obj._finalizer = ptr, owner, None
        return obj

    def _give_away(self, owner):
        """C took ownership: never free the handle again; it stays usable
        as a view while the new owner is open."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._owner = owner

    def _lose(self):
        """C freed the handle (e.g. a failed bsnn_model_add): forget it."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._ptr = None

    @property
    def closed(self):
        return self._ptr is None or (self._owner is not None and self._owner.closed)

    def _p(self):
        """The live C pointer; ValueError once closed (as files do)."""
        if self._ptr is None:
            raise ValueError("%s is closed (or was consumed)" % type(self).__name__)
        if self._owner is not None and self._owner.closed:
            raise ValueError("%s belongs to a %s that is closed"
                             % (type(self).__name__, type(self._owner).__name__))
        return self._ptr

    def close(self):
        """Free the C object now (later uses raise ValueError). A view of
        an object another one owns is only detached."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._ptr = None

    def __enter__(self):
        self._p()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Bounds(NamedTuple):
    """The valid range of a setting: lo <= v <= hi, with an end excluded
    when lo_open / hi_open."""
    lo: float
    hi: float
    lo_open: bool
    hi_open: bool

    def __contains__(self, v):
        return ((v > self.lo if self.lo_open else v >= self.lo) and
                (v < self.hi if self.hi_open else v <= self.hi))


def bounds_of(fn, *args):
    """Call a bsnn_*_bounds function and return Bounds."""
    lo, hi, flags = ctypes.c_double(), ctypes.c_double(), ctypes.c_uint()
    check(fn(ctypes.byref(lo), ctypes.byref(hi), ctypes.byref(flags), *args))
    return Bounds(lo.value, hi.value, bool(flags.value & BoundFlag.LO_OPEN),
                  bool(flags.value & BoundFlag.HI_OPEN))


class Settings:
    """set / get / bounds by enum member or name, for objects with a
    bsnn_X_set / _get (subclasses name them). Settings with an enum value
    read back as that enum; seeds and byte counts go through the typed C
    twins, so every uint64_t / size_t value is exact."""

    _params = None      # the settings enum (e.g. OptParam)
    _set_name = None    # "bsnn_optimizer_set"
    _get_name = None    # "bsnn_optimizer_get"
    _enum_valued = {}   # param -> enum class of its values
    _typed = {}         # param -> (setter, getter, ctypes type) typed twins

    def _param(self, param):
        return enum_value(self._params, param, type(self).__name__ + " setting")

    def _mutable(self):
        return self._p()

    def set(self, param, value):
        """Change a setting (a member of the settings enum or its name)."""
        p = self._param(param)
        cls = self._enum_valued.get(p)
        if cls is not None and isinstance(value, str):
            value = enum_value(cls, value, "%s %s" % (type(self).__name__, p.name.lower()))
        if p in self._typed:
            setter = self._typed[p][0]
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("%s %s: %r is not a whole number"
                                 % (type(self).__name__, p.name.lower(), value))
            # the declared argument type range-checks it (no silent wrap)
            check(getattr(lib, setter)(self._mutable(), int(value)))
        else:
            check(getattr(lib, self._set_name)(self._mutable(), p, float(value)))
        return self

    def get(self, param):
        """Read a setting: int for seeds, budgets and enum settings (as
        the enum), float otherwise."""
        p = self._param(param)
        if p in self._typed:
            _, getter, ctype = self._typed[p]
            out = ctype()
            check(getattr(lib, getter)(ctypes.byref(out), self._p()))
            return out.value
        out = ctypes.c_double()
        check(getattr(lib, self._get_name)(ctypes.byref(out), self._p(), p))
        cls = self._enum_valued.get(p)
        if cls is not None:
            return enum_value(cls, int(out.value), p.name.lower())
        return out.value

    def configure(self, **settings):
        """set() each keyword (a setting's lowercase name) in turn."""
        for name, value in settings.items():
            if value is not None:
                self.set(name, value)
        return self

    def __getitem__(self, param):
        return self.get(param)

    def __setitem__(self, param, value):
        self.set(param, value)
