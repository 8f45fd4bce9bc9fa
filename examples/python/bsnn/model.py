"""Model: a stack of layers with a loss; fit / predict / evaluate in the
shapes numpy and Keras users expect, plus memory estimates and save/load.
"""
import ctypes
import time
from typing import NamedTuple

import numpy as np

from ._convert import enum_value, fptr, path, rows, targets
from ._enums import Event, Init, Loss, ModelParam
from ._handle import Handle, Settings, bounds_of
from ._lib import Model as ModelP
from ._lib import callback as c_callback
from ._lib import check, lib, made, voidp
from .dataset import Dataset, coerce
from .history import History
from .layers import Layer, view
from .optimizer import Optimizer
from .scheduler import Scheduler
from .tensor import Tensor

_UNSET = object()  # "not given", where None is a value


class Evaluation(NamedTuple):
    """Mean loss and accuracy over a data set (evaluation mode)."""
    loss: float
    accuracy: float


class Progress(NamedTuple):
    """What a training callback receives after each update (event STEP:
    loss is the batch's mean loss) and each epoch (EPOCH: the epoch's mean
    training loss). epoch is 0-based and counts the scheduler's epochs;
    step counts updates since this fit began."""
    event: Event
    epoch: int
    step: int
    batch_size: int
    loss: float


class Model(Handle, Settings):
    """Model(n_inputs, [layers...], loss="softmax_ce", seed=1, init=...).

    Layers given here or to add() are consumed (see bsnn.layers). The loss
    is one of "mse", "bce_logits", "softmax_ce", "mse_mean" (BCE and
    softmax cross-entropy take the last layer's raw outputs: no sigmoid or
    softmax layer). Settings: "seed" (any uint64; setting it reinitialises
    the parameters), "threshold", "init"; model.loss and model.training are
    properties. The model is not thread-safe; for inference from several
    threads give each a Workspace."""

    _free_name = "bsnn_model_free"
    _params = ModelParam
    _set_name, _get_name = "bsnn_model_set", "bsnn_model_get"
    _enum_valued = {ModelParam.INIT: Init, ModelParam.LOSS: Loss}
    _typed = {ModelParam.SEED: ("bsnn_model_set_seed", "bsnn_model_get_seed", ctypes.c_uint64)}

    def __init__(self, n_inputs, layers=(), *, loss=None, optimizer=None, seed=None, init=None,
                 threshold=None):
        self._adopt_ptr(made(lib.bsnn_model_create(n_inputs)))
        if optimizer is not None:
            self._optimizer_for(optimizer)
        # Seed and default initialiser before the layers, which they initialise.
        self.configure(seed=seed, init=init, threshold=threshold)
        for layer in layers:
            self.add(layer)
        if loss is not None:
            self.loss = loss

    def _adopt_ptr(self, ptr):
        self._own(ptr)
        self._layers = []
        self._busy = False
        self.optimizer = None

    @classmethod
    def _adopt(cls, ptr):
        obj = cls.__new__(cls)
        obj._adopt_ptr(made(ptr))
        return obj

    def _use(self):
        """The pointer, for calls that change the model or use its own
        workspace: refused from inside a training callback of this model."""
        p = self._p()
        if self._busy:
            raise RuntimeError("Model is training: a callback may only read it (get_params, "
                               "save, predict or evaluate with a Workspace)")
        return p

    _mutable = _use

    # --- layers ---
    def add(self, layer):
        """Append a layer, which the model takes (also when this fails: C
        frees it then). Returns the model."""
        if not isinstance(layer, Layer):
            raise TypeError("Model.add: expected a bsnn layer, got %s" % type(layer).__name__)
        lp = layer._p()
        owned_elsewhere = layer._owner is not None
        st = lib.bsnn_model_add(self._use(), lp)
        if st == 0:
            layer._give_away(self)
            self._layers.append(layer)
        elif not owned_elsewhere:
            layer._lose()  # consumed: C freed it
        check(st)
        return self

    @property
    def layers(self):
        """The layers, as views the model owns (valid while it is open)."""
        p = self._p()
        for i in range(len(self._layers), lib.bsnn_model_n_layers(p)):
            self._layers.append(view(lib.bsnn_model_layer(p, i), self))
        return list(self._layers)

    n_inputs = property(lambda self: lib.bsnn_model_n_inputs(self._p()))
    n_outputs = property(lambda self: lib.bsnn_model_n_outputs(self._p()))
    param_count = property(lambda self: lib.bsnn_model_param_count(self._p()),
                           doc="Number of trainable parameters.")

    # --- settings with setters of their own ---
    @property
    def loss(self):
        return self.get(ModelParam.LOSS)

    @loss.setter
    def loss(self, value):
        check(lib.bsnn_model_set_loss(self._use(), enum_value(Loss, value, "loss")))

    @property
    def training(self):
        """True: training mode (dropout active, batch norm on batch
        statistics) for train steps; predict/evaluate always evaluate."""
        return bool(self.get(ModelParam.TRAINING))

    @training.setter
    def training(self, on):
        check(lib.bsnn_model_set_training(self._use(), 1 if on else 0))

    def set(self, param, value):
        p = self._param(param)
        if p == ModelParam.LOSS:
            self.loss = value
        elif p == ModelParam.TRAINING:
            self.training = value
        else:
            Settings.set(self, p, value)
        return self

    @property
    def seed(self):
        return self.get(ModelParam.SEED)

    @seed.setter
    def seed(self, value):
        self.set(ModelParam.SEED, value)

    def bounds(self, param):
        return bounds_of(lib.bsnn_model_bounds, self._p(), self._param(param))

    # --- parameters ---
    def get_params(self):
        """All parameters as one flat float32 array (layer by layer; dense:
        W [in][out] row-major, then b)."""
        out = np.empty(self.param_count, np.float32)
        check(lib.bsnn_model_get_params(fptr(out), out.size, self._p()))
        return out

    def set_params(self, values):
        from ._convert import as_float32
        v = as_float32(values, "values").ravel()
        check(lib.bsnn_model_set_params(self._use(), fptr(v), v.size))
        return self

    def get_grads(self):
        """The last train step's gradient, in the parameter order."""
        out = np.empty(self.param_count, np.float32)
        check(lib.bsnn_model_get_grads(fptr(out), out.size, self._p()))
        return out

    def init_params(self, seed):
        """Reinitialise every parameter from seed (batch-norm statistics
        reset, standardize statistics kept)."""
        check(lib.bsnn_model_init_params(self._use(), seed))
        return self

    # --- inference ---
    def predict(self, x, batch_size=1024, workspace=None, copy=None):
        """Outputs for rows x (rows, n_inputs), as (rows, n_outputs)
        float32: the last layer's raw outputs (logits under a cross-entropy
        loss). x is used without a copy when float32 and C-contiguous
        (copy=False: required). batch_size rows per forward pass bound the
        memory; the result does not depend on it. With a Workspace, several
        threads may predict on one model at once."""
        xs = rows(x, "x", copy)
        n = xs.shape[0]
        out = np.empty((n, self.n_outputs), np.float32)
        if workspace is None:
            mp = self._use()
            run = lambda o, i: lib.bsnn_model_forward(o, mp, i)  # noqa: E731
        else:
            mp, wp = self._p(), workspace._for(self)
            run = lambda o, i: lib.bsnn_model_forward_ws(o, mp, wp, i)  # noqa: E731
        step = int(batch_size)
        if step < 1:
            raise ValueError("predict: batch_size must be >= 1, got %r" % (batch_size,))
        for a in range(0, n, step):
            b = min(n, a + step)
            xt, ot = Tensor(xs[a:b], copy=False), Tensor(out[a:b], copy=False)
            try:
                check(run(ot._p(), xt._p()))
            finally:
                xt.close()
                ot.close()
        return out

    __call__ = predict

    def evaluate(self, x, y=None, batch_size=None, workspace=None):
        """Evaluation(loss, accuracy) over (x, y) or a Dataset. y may be
        1-D: class indices for softmax cross-entropy (or the one target of
        a one-output model)."""
        ds, _ = coerce(_pair(x, y, "evaluate"), "evaluate")
        n = len(ds)
        bs = min(n, 1024) if batch_size is None else batch_size
        loss, acc = ctypes.c_double(), ctypes.c_double()
        if workspace is None:
            check(lib.bsnn_model_evaluate(ctypes.byref(loss), ctypes.byref(acc), self._use(),
                                          ds._p(), bs))
        else:
            check(lib.bsnn_model_evaluate_ws(ctypes.byref(loss), ctypes.byref(acc), self._p(),
                                             workspace._for(self), ds._p(), bs))
        return Evaluation(loss.value, acc.value)

    # --- training ---
    def _optimizer_for(self, optimizer):
        if optimizer is not None:
            if not isinstance(optimizer, Optimizer):
                optimizer = Optimizer(optimizer)
            self.optimizer = optimizer
        elif self.optimizer is None:
            self.optimizer = Optimizer("adam")
        return self.optimizer

    def train_step(self, x, y, optimizer=None):
        """One update on the batch (x, y) (any number of rows); returns the
        batch's mean loss before the update."""
        xs = rows(x, "x")
        ys = targets(y, xs.shape[0])
        opt = self._optimizer_for(optimizer)
        xt, yt = Tensor(xs, copy=False), Tensor(ys, copy=False)
        loss = ctypes.c_double()
        try:
            check(lib.bsnn_model_train_step(ctypes.byref(loss), self._use(), opt._p(), xt._p(),
                                            yt._p()))
        finally:
            xt.close()
            yt.close()
        return loss.value

    def fit(self, x, y=None, *, batch_size=_UNSET, epochs=1, validation=None, shuffle=_UNSET,
            seed=_UNSET, callbacks=(), optimizer=None, scheduler=None, history=None,
            checkpoint=None, verbose=False):
        """Train for `epochs` epochs on (x, y) or a Dataset; returns the
        History (one row per epoch; validation loss and accuracy when
        validation=(x_val, y_val) or a Dataset is given).

        batch_size (default 32, at most the number of rows), shuffle
        (default True) and seed (default 0) make the Scheduler; pass
        scheduler= instead for every other setting (then not these three).
        optimizer: an Optimizer or a name; default the model's optimizer
        attribute, else Adam, which the model keeps for later fits.
        callbacks: callables taking a Progress; a truthy result stops
        training (not an error); an exception raised in one stops training
        and is raised from fit. checkpoint: a path written after every
        epoch (model, optimizer and scheduler: load_checkpoint resumes
        bit-identically). history: a History to append to. The History
        returned has .steps (updates done) and .scheduler (the one used:
        pass it to the next fit to go on with the same data order)."""
        train, _ = coerce(_pair(x, y, "fit"), "fit")
        val = coerce(validation, "validation")[0] if validation is not None else None
        opt = self._optimizer_for(optimizer)
        sched = self._scheduler_for(scheduler, len(train), batch_size, shuffle, seed)
        hist = history if history is not None else History()
        cbs = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        runner = _Trainer(self, opt, sched, hist, cbs, checkpoint, verbose, epochs)
        steps = ctypes.c_size_t()
        mp = self._use()
        self._busy = True
        try:
            st = lib.bsnn_model_train_ex(ctypes.byref(steps), mp, opt._p(), sched._p(), train._p(),
                                         val._p() if val is not None else None, hist._p(), epochs,
                                         runner.c_function, None)
        finally:
            self._busy = False
        if runner.error is not None:
            raise runner.error
        check(st)
        hist.steps = steps.value
        hist.scheduler = sched
        return hist

    @staticmethod
    def _scheduler_for(scheduler, n, batch_size, shuffle, seed):
        given = [k for k, v in (("batch_size", batch_size), ("shuffle", shuffle), ("seed", seed))
                 if v is not _UNSET]
        if scheduler is not None:
            if given:
                raise ValueError("fit: %s given with scheduler=; set them on the scheduler"
                                 % ", ".join(given))
            return scheduler
        bs = 32 if batch_size is _UNSET else batch_size
        if isinstance(bs, (int, np.integer)) and not isinstance(bs, bool) and bs > n:
            bs = n  # as Keras: a batch larger than the data is all of it
        return Scheduler(n, batch_size=bs, shuffle=True if shuffle is _UNSET else bool(shuffle),
                         seed=0 if seed is _UNSET else seed)

    # --- memory ---
    def memory(self, batch_size, optimizer=None):
        """Bytes bsnn allocates to train at batch_size rows per pass with
        the optimizer (default: the model's, else a default Adam; the
        update rule's state is part of the figure)."""
        opt = optimizer if optimizer is not None else (self.optimizer or Optimizer("adam"))
        out = ctypes.c_size_t()
        check(lib.bsnn_model_memory(ctypes.byref(out), self._p(), opt._p(), batch_size))
        return out.value

    def max_batch(self, budget_bytes, max_rows=1 << 20, optimizer=None):
        """The largest batch (<= max_rows) whose memory() fits the budget."""
        opt = optimizer if optimizer is not None else (self.optimizer or Optimizer("adam"))
        out = ctypes.c_size_t()
        check(lib.bsnn_model_max_batch(ctypes.byref(out), self._p(), opt._p(), int(budget_bytes),
                                       max_rows))
        return out.value

    # --- files and bytes ---
    def save(self, file):
        """Write the model atomically (temporary file, fsync, rename)."""
        check(lib.bsnn_model_save(self._p(), path(file)))

    @classmethod
    def load(cls, file):
        """A model read from a file bsnn_model_save (or a checkpoint) wrote."""
        out = ModelP()
        check(lib.bsnn_model_load(ctypes.byref(out), path(file)))
        return cls._adopt(out)

    def to_bytes(self):
        """The model file's bytes."""
        buf, size = voidp(), ctypes.c_size_t()
        check(lib.bsnn_model_save_alloc(ctypes.byref(buf), ctypes.byref(size), self._p()))
        try:
            return ctypes.string_at(buf, size.value)
        finally:
            lib.bsnn_buffer_free(buf)

    @classmethod
    def from_bytes(cls, data):
        data = bytes(data)
        out = ModelP()
        check(lib.bsnn_model_load_buffer(ctypes.byref(out), data, len(data)))
        return cls._adopt(out)

    def __reduce__(self):
        return (Model.from_bytes, (self.to_bytes(),))

    def __repr__(self):
        if self.closed:
            return "Model(closed)"
        kinds = ", ".join(type(layer).__name__ for layer in self.layers)
        return "Model(%d inputs -> %d outputs, [%s], loss=%s)" % (
            self.n_inputs, self.n_outputs, kinds, self.loss.name.lower())


def _pair(x, y, who):
    """What coerce takes: a Dataset alone, or the pair (x, y)."""
    if isinstance(x, Dataset):
        if y is not None:
            raise TypeError("%s: a Dataset holds its targets; y must not be given" % who)
        return x
    if y is None:
        raise TypeError("%s: targets y are missing (or pass a Dataset)" % who)
    return (x, y)


class Workspace(Handle):
    """Buffers for inference on one model from one thread: pass it to
    predict / evaluate so several threads can share a model."""

    _free_name = "bsnn_workspace_free"

    def __init__(self, model):
        self._model = model
        self._own(made(lib.bsnn_workspace_create(model._p())))

    def _for(self, model):
        if model is not self._model:
            raise ValueError("Workspace: made for another model")
        return self._p()


class _Trainer:
    """The C callback of one fit: runs the Python callbacks, checkpoints
    and progress lines, and turns an exception into a stop whose exception
    fit raises once C has returned (an exception cannot cross C)."""

    def __init__(self, model, opt, sched, hist, callbacks, checkpoint, verbose, epochs):
        self.model, self.opt, self.sched, self.hist = model, opt, sched, hist
        self.callbacks = [c for c in callbacks if c is not None]
        for c in self.callbacks:
            if not callable(c):
                raise TypeError("fit: callbacks must be callables, got %r" % (c,))
        self.checkpoint = path(checkpoint) if checkpoint is not None else None
        self.verbose, self.epochs = verbose, epochs
        self.first_epoch = sched.epoch
        self.t0 = time.monotonic()
        self.error = None
        # Kept here, referenced by fit's frame for the whole C call.
        self.c_function = c_callback(self._called)

    def _called(self, user, event, epoch, step, batch_size, loss):
        try:
            ev = enum_value(Event, event, "event")
            if ev == Event.EPOCH:
                self._epoch_done(epoch)
            info = Progress(ev, epoch, step, batch_size, loss)
            for cb in self.callbacks:
                if cb(info):
                    return 1
            return 0
        except BaseException as e:  # KeyboardInterrupt too: stop, re-raise in fit
            self.error = e
            return 1

    def _epoch_done(self, epoch):
        if self.checkpoint is not None:
            check(lib.bsnn_checkpoint_save(self.model._p(), self.opt._p(), self.sched._p(),
                                           self.checkpoint))
        if self.verbose:
            h = self.hist
            row = len(h) - 1
            line = "epoch %d/%d: loss %.4f" % (epoch + 1, self.first_epoch + self.epochs,
                                               h.get(row, "train_loss"))
            vl, va = h.get(row, "val_loss"), h.get(row, "val_accuracy")
            if not np.isnan(vl):
                line += ", val_loss %.4f, val_accuracy %.4f" % (vl, va)
            print(line + " (%.1f s)" % (time.monotonic() - self.t0), flush=True)
