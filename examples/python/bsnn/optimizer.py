"""Optimizer: an update rule and its state (bsnn_optimizer)."""
from ._convert import enum_value
from ._enums import DecayScope, OptimizerKind, OptParam, OptVariant
from ._handle import Handle, Settings, bounds_of
from ._lib import check, lib, made


class Optimizer(Handle, Settings):
    """An update rule ("sgd", "momentum", "nesterov", "adagrad",
    "adadelta", "rmsprop", "adam", "adamax", "nadam", "amsgrad", "adamw", or
    an OptimizerKind) with PyTorch's defaults; keywords set hyperparameters
    by name: Optimizer("adam", lr=1e-3, beta2=0.99). Its state is bound to
    the first model it trains (training another is a StateError) until
    reset()."""

    _free_name = "bsnn_optimizer_free"
    _params = OptParam
    _set_name, _get_name = "bsnn_optimizer_set", "bsnn_optimizer_get"
    _enum_valued = {OptParam.VARIANT: OptVariant, OptParam.DECAY_SCOPE: DecayScope}

    def __init__(self, kind="adam", **hyperparameters):
        k = enum_value(OptimizerKind, kind, "Optimizer")
        self._own(made(lib.bsnn_optimizer_create(k)))
        self.configure(**hyperparameters)

    @property
    def kind(self):
        return enum_value(OptimizerKind, lib.bsnn_optimizer_kind_of(self._p()), "kind")

    @staticmethod
    def bounds_for(kind, param):
        """Bounds of a hyperparameter for a rule."""
        return bounds_of(lib.bsnn_optimizer_bounds, enum_value(OptimizerKind, kind, "kind"),
                         enum_value(OptParam, param, "setting"))

    def bounds(self, param):
        return self.bounds_for(self.kind, param)

    def reset(self):
        """Forget moments, step count and the model binding (keeps the
        hyperparameters)."""
        check(lib.bsnn_optimizer_reset(self._p()))
        return self

    def __repr__(self):
        if self.closed:
            return "Optimizer(closed)"
        return "Optimizer(%r, lr=%g)" % (self.kind.name.lower(), self.get("lr"))
