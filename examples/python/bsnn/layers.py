"""Layers: one class per bsnn layer kind.

A layer is made on its own, then given to Model.add, which CONSUMES it (the
header's rule: bsnn_model_add takes the layer whatever the status). After a
successful add the Python object becomes a view of the model's layer (its
settings stay readable and settable while the model is open); after a
failed add C has freed it and the object is closed. Either way this object
never frees it again.
"""
import ctypes

from ._convert import as_float32, enum_value, fptr
from ._enums import ActivationKind, Init, LayerKind, LayerParam
from ._handle import Handle, Settings, bounds_of
from ._lib import lib, made


class Layer(Handle, Settings):
    """A bsnn_layer. Settings are LayerParam members or their names
    ("init", "l2", "rate", ...): layer.set("l2", 1e-4), layer["l2"]."""

    kind = None
    _free_name = "bsnn_layer_free"
    _params = LayerParam
    _set_name, _get_name = "bsnn_layer_set", "bsnn_layer_get"
    _enum_valued = {LayerParam.INIT: Init}
    _typed = {LayerParam.SEED: ("bsnn_layer_set_seed", "bsnn_layer_get_seed", ctypes.c_uint64)}

    def _mutable(self):
        if self._owner is not None:
            self._owner._use()  # not while its model trains
        return self._p()

    @classmethod
    def bounds(cls, param, kind=None):
        """Bounds of a setting for this layer kind (class or instance)."""
        kind = kind if kind is not None else cls.kind
        return bounds_of(lib.bsnn_layer_bounds, kind, enum_value(LayerParam, param, "setting"))

    @property
    def model(self):
        """The Model that owns this layer, or None before Model.add."""
        return self._owner

    def __repr__(self):
        state = "closed" if self.closed else ("in a model" if self._owner else "free")
        return "%s(%s)" % (type(self).__name__, state)


class Dense(Layer):
    """A fully connected layer of `units` outputs: y = x W + b (W [in][out],
    then b, in the parameter order). Keywords: init (an Init or its name),
    init_lo, init_hi (for init="uniform"), bias_init, l1, l2."""

    kind = LayerKind.DENSE

    def __init__(self, units, *, init=None, init_lo=None, init_hi=None, bias_init=None,
                 l1=None, l2=None):
        self._own(made(lib.bsnn_layer_dense(units)))
        # The range first, so init="uniform" never sees a stale one.
        self.configure(init_lo=init_lo, init_hi=init_hi, init=init, bias_init=bias_init,
                       l1=l1, l2=l2)


class Activation(Layer):
    """An activation: "linear", "sigmoid", "tanh", "relu", "leaky_relu",
    "elu" or "softmax" (or an ActivationKind). slope: leaky relu's negative
    slope or elu's alpha."""

    kind = LayerKind.ACTIVATION

    def __init__(self, function, *, slope=None):
        fn = enum_value(ActivationKind, function, "Activation")
        self._own(made(lib.bsnn_layer_activation(fn)))
        self.configure(slope=slope)


class BatchNorm(Layer):
    """Batch normalization per feature; keywords momentum, eps. A training
    batch of one row is an error (no variance)."""

    kind = LayerKind.BATCHNORM

    def __init__(self, *, momentum=None, eps=None):
        self._own(made(lib.bsnn_layer_batchnorm()))
        self.configure(momentum=momentum, eps=eps)


class LayerNorm(Layer):
    """Layer normalization over each row's features; keyword eps."""

    kind = LayerKind.LAYERNORM

    def __init__(self, *, eps=None):
        self._own(made(lib.bsnn_layer_layernorm()))
        self.configure(eps=eps)


class Dropout(Layer):
    """Inverted dropout of probability `rate` in training mode; keyword
    seed (any uint64) for the mask generator."""

    kind = LayerKind.DROPOUT

    def __init__(self, rate, *, seed=None):
        self._own(made(lib.bsnn_layer_dropout(float(rate))))
        self.configure(seed=seed)


class Standardize(Layer):
    """Fixed per-feature standardisation y = (x - mean) / std, saved with
    the model (statistics from Dataset.input_stats, on training data)."""

    kind = LayerKind.STANDARDIZE

    def __init__(self, mean, std):
        m = as_float32(mean, "mean").ravel()
        s = as_float32(std, "std").ravel()
        if m.shape != s.shape:
            raise ValueError("Standardize: mean has %d values, std %d" % (m.size, s.size))
        self._own(made(lib.bsnn_layer_standardize(fptr(m), fptr(s), m.size)))


# kind -> class, for views of a loaded model's layers.
BY_KIND = {cls.kind: cls for cls in (Dense, Activation, BatchNorm, LayerNorm, Dropout,
                                     Standardize)}


def view(ptr, owner):
    """A borrowed view of a layer the model `owner` owns."""
    kind = lib.bsnn_layer_kind_of(ptr)
    cls = BY_KIND.get(kind, Layer)
    return cls._borrowed(ptr, owner)


__all__ = ["Layer", "Dense", "Activation", "BatchNorm", "LayerNorm", "Dropout", "Standardize"]
