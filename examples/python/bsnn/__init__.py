"""bsnn for Python: train and run bsnn's multilayer perceptrons from numpy.

    import bsnn
    model = bsnn.Model(784, [bsnn.Dense(128), bsnn.Activation("relu"), bsnn.Dense(10)],
                       loss="softmax_ce")
    history = model.fit(x, labels, batch_size=64, epochs=5, validation=(xv, lv))
    probabilities_of = model.predict(x_test)          # (rows, 10) logits
    loss, accuracy = model.evaluate(x_test, labels_test)

A pure-Python package over libbsnn's C ABI (ctypes): it loads
libbsnn.so.MAJOR (BSNN_LIBRARY overrides the path), refuses a library of
another version, frees every C object it makes (close(), `with`, or garbage
collection), raises one exception class per bsnn status (bsnn.BsnnError and
its subclasses, carrying the status and bsnn_last_error()), and reads numpy
arrays without a copy when they are float32 and C-contiguous, converting
anything else once with np.ascontiguousarray(x, dtype=np.float32) (or
refusing, with copy=False): never a silent misreading.
"""
from ._enums import (HEADER_VERSION, ActivationKind, BatchSchedule, BoundFlag, DecayScope,
                     Event, Feature, HistField, Init, LayerKind, LayerParam, Loss, LrScaling,
                     LrSchedule, ModelParam, OptimizerKind, OptParam, OptVariant, Playground,
                     PlaygroundFlag, SchedParam, SearchBudget, SearchCol, SearchMetric,
                     SearchParam, Stat, Status)
from ._handle import Bounds
from ._lib import lib as _c
from ._lib import last_error, check as _check
from ._lib import path as library_path
from .checkpoint import (Checkpoint, checkpoint_bytes, load_checkpoint, load_checkpoint_bytes,
                         save_checkpoint)
from .dataset import Dataset
from .errors import (ArgumentError, BsnnError, CallbackError, ConstructorError, DivergedError,
                     FileError,
                     FormatError, NoMemoryError, NullError, ShapeError, StateError,
                     UnsupportedError, VersionError)
from .history import History
from .layers import Activation, BatchNorm, Dense, Dropout, Layer, LayerNorm, Standardize
from .model import Evaluation, Model, Progress, Workspace
from .optimizer import Optimizer
from .scheduler import Scheduler
from .search import Search
from .tensor import Tensor

__version__ = "%d.%d.%d" % HEADER_VERSION


def version():
    """The loaded library's version, (major, minor, patch)."""
    from ._lib import version_tuple
    return version_tuple(_c.bsnn_version())


def version_string():
    return _c.bsnn_version_string().decode()


def status_string(status):
    """bsnn's short description of a status code."""
    return _c.bsnn_status_string(int(status)).decode()


def set_num_threads(n):
    """Threads the GEMM kernels may use (1..256), process-wide; results are
    bit-identical for every count. Not thread-safe."""
    _check(_c.bsnn_set_num_threads(n))


def get_num_threads():
    return _c.bsnn_get_num_threads()


__all__ = [
    "Activation", "ActivationKind", "ArgumentError", "BatchNorm", "BatchSchedule", "BoundFlag",
    "Bounds", "BsnnError", "CallbackError", "Checkpoint", "ConstructorError", "Dataset", "DecayScope", "Dense",
    "DivergedError", "Dropout", "Evaluation", "Event", "Feature", "FileError", "FormatError",
    "HEADER_VERSION", "HistField", "History", "Init", "Layer", "LayerKind", "LayerNorm",
    "LayerParam", "Loss", "LrScaling", "LrSchedule", "Model", "ModelParam", "NoMemoryError",
    "NullError", "OptParam", "OptVariant", "Optimizer", "OptimizerKind", "Playground",
    "PlaygroundFlag", "Progress", "SchedParam", "Scheduler", "Search", "SearchBudget",
    "SearchCol", "SearchMetric", "SearchParam", "ShapeError", "Standardize", "StateError",
    "Stat", "Status", "Tensor", "UnsupportedError", "VersionError", "Workspace", "checkpoint_bytes",
    "get_num_threads", "last_error", "library_path", "load_checkpoint", "load_checkpoint_bytes",
    "save_checkpoint", "set_num_threads", "status_string", "version", "version_string",
]
