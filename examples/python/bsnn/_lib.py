"""Loading libbsnn and declaring its functions: the package's only contact
with ctypes signatures.

The library is looked up in this order, the first that loads wins:
 1. the BSNN_LIBRARY environment variable (a path),
 2. the library directory `make install` recorded in _install.py,
 3. the SONAME, libbsnn.so.MAJOR, through the dynamic loader's search path,
 4. ctypes.util.find_library("bsnn").
Its bsnn_version() must match the header this package was generated from
(see check_version). Every function of include/bsnn.h is declared once, in
FUNCTIONS below, and the package calls them through `lib` only; the tests
compare FUNCTIONS with the header's BSNN_API declarations, argument by
argument, so the two cannot drift.
"""
import ctypes
import ctypes.util
import numbers
import os

from . import _install
from ._enums import HEADER_VERSION
from .errors import ArgumentError, ConstructorError, VersionError, error_for

SONAME = "libbsnn.so.%d" % HEADER_VERSION[0]


# Opaque handles, one ctypes type each, so a model cannot be passed where a
# dataset is expected (ctypes raises ArgumentError instead).
class bsnn_tensor(ctypes.Structure):
    pass


class bsnn_layer(ctypes.Structure):
    pass


class bsnn_optimizer(ctypes.Structure):
    pass


class bsnn_dataset(ctypes.Structure):
    pass


class bsnn_scheduler(ctypes.Structure):
    pass


class bsnn_history(ctypes.Structure):
    pass


class bsnn_model(ctypes.Structure):
    pass


class bsnn_workspace(ctypes.Structure):
    pass


class bsnn_search(ctypes.Structure):
    pass


P = ctypes.POINTER
size_t, u64, uint, cint = ctypes.c_size_t, ctypes.c_uint64, ctypes.c_uint, ctypes.c_int
double, cfloat, voidp, charp = ctypes.c_double, ctypes.c_float, ctypes.c_void_p, ctypes.c_char_p
status = enum = cint  # C enums are passed and returned as int
Tensor, Layer, Opt, Data = P(bsnn_tensor), P(bsnn_layer), P(bsnn_optimizer), P(bsnn_dataset)
Sched, Hist, Model, Ws, Search = (P(bsnn_scheduler), P(bsnn_history), P(bsnn_model),
                                  P(bsnn_workspace), P(bsnn_search))

callback = ctypes.CFUNCTYPE(cint, voidp, enum, size_t, size_t, size_t, double)
alloc_fn = ctypes.CFUNCTYPE(voidp, voidp, size_t)
free_fn = ctypes.CFUNCTYPE(None, voidp, voidp, size_t)
grad_hook = ctypes.CFUNCTYPE(cint, voidp, P(cfloat), size_t, P(size_t), P(double))

# name, restype, argtypes: in the header's order. `const` is not a ctypes
# notion; the tests check everything else.
FUNCTIONS = [
    ("bsnn_version", uint, []),
    ("bsnn_version_string", charp, []),
    ("bsnn_status_string", charp, [status]),
    ("bsnn_last_error", charp, []),
    ("bsnn_set_allocator", status, [alloc_fn, free_fn, voidp]),
    ("bsnn_set_num_threads", status, [cint]),
    ("bsnn_get_num_threads", cint, []),
    ("bsnn_set_flush_subnormals", status, [cint]),
    ("bsnn_get_flush_subnormals", cint, []),
    ("bsnn_set_gemm_kernel", status, [enum]),
    ("bsnn_get_gemm_kernel", enum, []),
    ("bsnn_gemm_kernel_string", charp, []),
    # tensors
    ("bsnn_tensor_create", Tensor, [cint, P(size_t)]),
    ("bsnn_tensor_wrap", Tensor, [P(cfloat), cint, P(size_t)]),
    ("bsnn_tensor_free", None, [Tensor]),
    ("bsnn_tensor_rank", cint, [Tensor]),
    ("bsnn_tensor_dim", size_t, [Tensor, cint]),
    ("bsnn_tensor_size", size_t, [Tensor]),
    ("bsnn_tensor_data", P(cfloat), [Tensor]),
    ("bsnn_tensor_copy_in", status, [Tensor, P(cfloat), size_t]),
    ("bsnn_tensor_copy_out", status, [P(cfloat), size_t, Tensor]),
    ("bsnn_tensor_fill", status, [Tensor, cfloat]),
    # layers
    ("bsnn_layer_dense", Layer, [size_t]),
    ("bsnn_layer_activation", Layer, [enum]),
    ("bsnn_layer_batchnorm", Layer, []),
    ("bsnn_layer_dropout", Layer, [double]),
    ("bsnn_layer_layernorm", Layer, []),
    ("bsnn_layer_standardize", Layer, [P(cfloat), P(cfloat), size_t]),
    ("bsnn_layer_free", None, [Layer]),
    ("bsnn_layer_kind_of", enum, [Layer]),
    ("bsnn_layer_set", status, [Layer, enum, double]),
    ("bsnn_layer_get", status, [P(double), Layer, enum]),
    ("bsnn_layer_bounds", status, [P(double), P(double), P(uint), enum, enum]),
    ("bsnn_layer_set_seed", status, [Layer, u64]),
    ("bsnn_layer_get_seed", status, [P(u64), Layer]),
    # optimizers
    ("bsnn_optimizer_create", Opt, [enum]),
    ("bsnn_optimizer_free", None, [Opt]),
    ("bsnn_optimizer_kind_of", enum, [Opt]),
    ("bsnn_optimizer_set", status, [Opt, enum, double]),
    ("bsnn_optimizer_get", status, [P(double), Opt, enum]),
    ("bsnn_optimizer_bounds", status, [P(double), P(double), P(uint), enum, enum]),
    ("bsnn_optimizer_reset", status, [Opt]),
    # datasets
    ("bsnn_dataset_create", Data, [P(cfloat), P(cfloat), size_t, size_t, size_t]),
    ("bsnn_dataset_wrap", Data, [P(cfloat), P(cfloat), size_t, size_t, size_t]),
    ("bsnn_dataset_parity", Data, [cint]),
    ("bsnn_dataset_free", None, [Data]),
    ("bsnn_dataset_size", size_t, [Data]),
    ("bsnn_dataset_n_inputs", size_t, [Data]),
    ("bsnn_dataset_n_targets", size_t, [Data]),
    ("bsnn_dataset_inputs", P(cfloat), [Data]),
    ("bsnn_dataset_targets", P(cfloat), [Data]),
    ("bsnn_dataset_split", status, [P(Data), P(Data), Data, double, u64]),
    ("bsnn_dataset_playground", Data, [enum, size_t, double, u64, uint]),
    ("bsnn_dataset_features", Data, [Data, uint]),
    ("bsnn_dataset_toy1d", status, [P(Data), P(Data)]),
    ("bsnn_dataset_input_stats", status, [P(cfloat), P(cfloat), size_t, Data]),
    ("bsnn_dataset_standardize", status, [Data, P(cfloat), P(cfloat), size_t]),
    ("bsnn_dataset_one_hot", Data, [Data, size_t]),
    ("bsnn_dataset_load_csv", Data, [charp, cint, P(size_t), size_t]),
    ("bsnn_dataset_load_idx", Data, [charp, charp, size_t]),
    # schedulers
    ("bsnn_scheduler_create", Sched, [size_t]),
    ("bsnn_scheduler_free", None, [Sched]),
    ("bsnn_scheduler_set", status, [Sched, enum, double]),
    ("bsnn_scheduler_get", status, [P(double), Sched, enum]),
    ("bsnn_scheduler_bounds", status, [P(double), P(double), P(uint), Sched, enum]),
    ("bsnn_scheduler_set_seed", status, [Sched, u64]),
    ("bsnn_scheduler_get_seed", status, [P(u64), Sched]),
    ("bsnn_scheduler_set_memory_budget", status, [Sched, size_t]),
    ("bsnn_scheduler_get_memory_budget", status, [P(size_t), Sched]),
    ("bsnn_scheduler_next", status, [P(P(size_t)), P(size_t), P(cint), Sched]),
    ("bsnn_scheduler_reset", status, [Sched]),
    ("bsnn_scheduler_observe_noise", status, [Sched, Model]),
    ("bsnn_scheduler_epoch", size_t, [Sched]),
    ("bsnn_scheduler_step", size_t, [Sched]),
    ("bsnn_scheduler_batch_size", size_t, [Sched]),
    ("bsnn_scheduler_n_samples", size_t, [Sched]),
    ("bsnn_scheduler_set_batch_steps", status, [Sched, P(size_t), P(size_t), size_t]),
    ("bsnn_scheduler_batch_size_at", size_t, [Sched, size_t]),
    ("bsnn_scheduler_lr", status, [P(double), Sched, double]),
    ("bsnn_scheduler_total_steps", size_t, [Sched]),
    ("bsnn_scheduler_seek", status, [Sched, size_t, size_t]),
    ("bsnn_scheduler_set_shard", status, [Sched, size_t, size_t]),
    ("bsnn_scheduler_get_shard", status, [P(size_t), P(size_t), Sched]),
    # histories
    ("bsnn_history_create", Hist, []),
    ("bsnn_history_free", None, [Hist]),
    ("bsnn_history_size", size_t, [Hist]),
    ("bsnn_history_clear", status, [Hist]),
    ("bsnn_history_get", status, [P(double), Hist, size_t, enum]),
    ("bsnn_history_write_csv", status, [Hist, charp]),
    # models
    ("bsnn_model_create", Model, [size_t]),
    ("bsnn_model_free", None, [Model]),
    ("bsnn_model_add", status, [Model, Layer]),
    ("bsnn_model_layer", Layer, [Model, size_t]),
    ("bsnn_model_n_layers", size_t, [Model]),
    ("bsnn_model_n_inputs", size_t, [Model]),
    ("bsnn_model_n_outputs", size_t, [Model]),
    ("bsnn_model_set_loss", status, [Model, enum]),
    ("bsnn_model_set_training", status, [Model, cint]),
    ("bsnn_model_set", status, [Model, enum, double]),
    ("bsnn_model_get", status, [P(double), Model, enum]),
    ("bsnn_model_bounds", status, [P(double), P(double), P(uint), Model, enum]),
    ("bsnn_model_set_seed", status, [Model, u64]),
    ("bsnn_model_get_seed", status, [P(u64), Model]),
    ("bsnn_model_init_params", status, [Model, u64]),
    ("bsnn_model_param_count", size_t, [Model]),
    ("bsnn_model_get_params", status, [P(cfloat), size_t, Model]),
    ("bsnn_model_set_params", status, [Model, P(cfloat), size_t]),
    ("bsnn_model_get_grads", status, [P(cfloat), size_t, Model]),
    ("bsnn_model_forward", status, [Tensor, Model, Tensor]),
    ("bsnn_model_evaluate", status, [P(double), P(double), Model, Data, size_t]),
    ("bsnn_workspace_create", Ws, [Model]),
    ("bsnn_workspace_free", None, [Ws]),
    ("bsnn_model_forward_ws", status, [Tensor, Model, Ws, Tensor]),
    ("bsnn_model_evaluate_ws", status, [P(double), P(double), Model, Ws, Data, size_t]),
    ("bsnn_model_train_step", status, [P(double), Model, Opt, Tensor, Tensor]),
    ("bsnn_model_set_grad_hook", status, [Model, grad_hook, voidp]),
    ("bsnn_model_stat", status, [P(u64), Model, enum]),
    ("bsnn_model_noise", status, [P(double), Model, enum]),
    ("bsnn_model_noise_observe", status, [Model, double, double, double, double]),
    ("bsnn_model_noise_reset", status, [Model]),
    ("bsnn_model_noise_measure", status, [P(double), size_t, Model, Data, enum, size_t, size_t, u64]),
    ("bsnn_model_train", status, [P(size_t), Model, Opt, Sched, Data, size_t, callback, voidp]),
    ("bsnn_model_train_ex", status,
     [P(size_t), Model, Opt, Sched, Data, Data, Hist, size_t, callback, voidp]),
    ("bsnn_model_memory", status, [P(size_t), Model, Opt, size_t]),
    ("bsnn_model_max_batch", status, [P(size_t), Model, Opt, size_t, size_t]),
    ("bsnn_model_save", status, [Model, charp]),
    ("bsnn_model_load", status, [P(Model), charp]),
    ("bsnn_model_save_size", status, [P(size_t), Model]),
    ("bsnn_model_save_buffer", status, [voidp, size_t, P(size_t), Model]),
    ("bsnn_model_save_alloc", status, [P(voidp), P(size_t), Model]),
    ("bsnn_buffer_free", None, [voidp]),
    ("bsnn_model_load_buffer", status, [P(Model), voidp, size_t]),
    # the batch-size search
    ("bsnn_search_create", Search, []),
    ("bsnn_search_free", None, [Search]),
    ("bsnn_search_set", status, [Search, enum, double]),
    ("bsnn_search_get", status, [P(double), Search, enum]),
    ("bsnn_search_bounds", status, [P(double), P(double), P(uint), Search, enum]),
    ("bsnn_search_set_seed", status, [Search, u64]),
    ("bsnn_search_get_seed", status, [P(u64), Search]),
    ("bsnn_search_set_memory_budget", status, [Search, size_t]),
    ("bsnn_search_get_memory_budget", status, [P(size_t), Search]),
    ("bsnn_search_run", status, [P(size_t), Search, Model, Opt, Data, Data, Sched]),
    ("bsnn_search_sweep", status,
     [P(size_t), Search, Model, Opt, Data, Data, Sched, P(size_t), size_t]),
    ("bsnn_search_count", size_t, [Search]),
    ("bsnn_search_best", size_t, [Search]),
    ("bsnn_search_result", status, [P(double), Search, size_t, enum]),
    ("bsnn_search_trial", status, [P(double), Search, size_t, size_t, enum]),
    ("bsnn_search_write_csv", status, [Search, charp]),
    # checkpoints
    ("bsnn_checkpoint_save", status, [Model, Opt, Sched, charp]),
    ("bsnn_checkpoint_save_alloc", status, [P(voidp), P(size_t), Model, Opt, Sched]),
    ("bsnn_checkpoint_load", status, [P(Model), P(Opt), P(Sched), charp]),
    ("bsnn_checkpoint_load_buffer", status, [P(Model), P(Opt), P(Sched), voidp, size_t]),
]


def _candidates():
    """(how it was found, what to pass to CDLL) in the lookup order."""
    env = os.environ.get("BSNN_LIBRARY")
    if env:
        # An explicit override is the only candidate: never fall back past it.
        return [("BSNN_LIBRARY", env)]
    found = []
    if _install.LIBDIR:
        found.append(("installed", os.path.join(_install.LIBDIR, SONAME)))
    found.append(("SONAME", SONAME))
    name = ctypes.util.find_library("bsnn")
    if name:
        found.append(("find_library", name))
    return found


def _load():
    tried = []
    for how, name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append("%s (%s): %s" % (name, how, e))
    raise ImportError("bsnn: cannot load libbsnn; tried " + "; ".join(tried) +
                      ". Install it (make install) or set BSNN_LIBRARY to its path.")


def version_tuple(number):
    """(major, minor, patch) of a BSNN_VERSION_NUMBER-style number."""
    return number // 10000, number // 100 % 100, number % 100


def check_version(found, wanted=HEADER_VERSION, where="libbsnn"):
    """Refuse a library this package cannot call correctly: another MAJOR, an
    older MINOR (functions missing), and before 1.0 any other MINOR, since
    0.x minor releases may change signatures (0.3 did), which would make
    calls silently misread their arguments."""
    why = None
    if found[0] != wanted[0]:
        why = "a different major version"
    elif found[1] < wanted[1]:
        why = "an older minor version (functions may be missing)"
    elif wanted[0] == 0 and found[1] != wanted[1]:
        why = "a different 0.x minor version (before 1.0 signatures may change)"
    if why:
        raise VersionError("bsnn: %s is version %d.%d.%d, %s; this package was written for "
                           "%d.%d (include/bsnn.h %d.%d.%d). Use the package of that library's "
                           "source tree, or point BSNN_LIBRARY at a %d.%d library."
                           % ((where,) + tuple(found) + (why,) + tuple(wanted[:2]) +
                              tuple(wanted) + tuple(wanted[:2])))


def _checked_int(base, cname):
    """base (a ctypes integer type) that refuses, as argument, a value it
    cannot hold: ctypes itself would wrap -1 to SIZE_MAX silently."""
    bits = 8 * ctypes.sizeof(base)
    signed = base(-1).value < 0
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    class Checked(base):
        @classmethod
        def from_param(cls, value):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError("expected a whole number for %s, got %r" % (cname, value))
            if not lo <= value <= hi:
                raise OverflowError("%d is out of range for %s (%d..%d)" % (value, cname, lo, hi))
            return base(int(value))

    Checked.__name__ = Checked.__qualname__ = "checked_" + cname.replace("/", "_")
    Checked.plain = base
    return Checked


# Scalar integer arguments are range-checked; results and pointers are not.
# (size_t and uint64_t are one ctypes type on LP64 hosts.)
_INT_NAMES = {}
for _t, _n in ((size_t, "size_t"), (u64, "uint64_t"), (uint, "unsigned"), (cint, "int")):
    _INT_NAMES.setdefault(_t, []).append(_n)
CHECKED = {t: _checked_int(t, "/".join(n)) for t, n in _INT_NAMES.items()}


def _guard(name, fn):
    """fn, with ctypes' argument errors (a wrong handle type, a value out
    of range) raised as bsnn's ArgumentError naming the function."""
    def call(*args):
        try:
            return fn(*args)
        except ctypes.ArgumentError as e:
            raise ArgumentError("%s: %s" % (name, e)) from None
    call.__name__ = call.__qualname__ = name
    call.raw = fn
    return call


class _Functions:
    """The declared functions, as attributes named as in C."""


def _declare(cdll, path):
    cdll.bsnn_version.restype, cdll.bsnn_version.argtypes = uint, []
    check_version(version_tuple(cdll.bsnn_version()), where=path)
    funcs = _Functions()
    for name, restype, argtypes in FUNCTIONS:
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise ImportError("bsnn: %s lacks %s although its version matches" % (path, name))
        fn.restype, fn.argtypes = restype, [CHECKED.get(t, t) for t in argtypes]
        setattr(funcs, name, _guard(name, fn))
    return funcs


lib_raw, path = _load()
lib = _declare(lib_raw, path)


def last_error():
    """bsnn_last_error() as str."""
    return lib.bsnn_last_error().decode("utf-8", "replace")


def check(st):
    """Raise the exception of a failed call's status (st != 0)."""
    if st != 0:
        raise error_for(st, last_error())


def made(ptr):
    """A constructor's result, or ConstructorError with the message."""
    if not ptr:
        raise ConstructorError(last_error())
    return ptr
