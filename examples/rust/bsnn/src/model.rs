//! Models: a stack of layers and its parameters; inference, evaluation,
//! the training step, memory estimates, and model files and buffers.

use crate::dataset::DatasetRef;
use crate::enums::{Activation, Init, Loss, ModelParam};
use crate::error::{c_path, check, made, shape_error, Result};
use crate::handle::handle;
use crate::layer::{Bounds, Layer, LayerRef};
use crate::optimizer::OptimizerRef;
use crate::scheduler::SchedulerRef;
use crate::sys;
use crate::tensor::{Input, Tensor, TensorView};
use crate::train::Fit;
use std::os::raw::c_void;
use std::path::Path;
use std::ptr::{self, NonNull};

handle!(
    /// A model: an ordered stack of layers, its parameters and workspace.
    Model,
    /// A model, owned ([`Model`]) or lent to a training callback (shared
    /// only: read, save, evaluate through a [`Workspace`]).
    ModelRef,
    bsnn_model,
    bsnn_model_free
);

// SAFETY: every `&self` method calls a C function that takes a const model
// and only reads it (inference through a caller's workspace, getters,
// saves): the header allows several threads to run `_ws` inference on one
// model while nothing changes it, and `&self` guarantees nothing does.
unsafe impl Sync for Model {}
unsafe impl Sync for ModelRef {}

/// Mean loss and accuracy over a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

impl Model {
    /// An empty model for rows of `n_inputs` features, no loss chosen yet.
    pub fn new(n_inputs: usize) -> Result<Model> {
        made(unsafe { sys::bsnn_model_create(n_inputs) }).map(Model::from_raw)
    }

    /// A builder: layers, loss and seed in one expression.
    pub fn builder(n_inputs: usize) -> ModelBuilder {
        ModelBuilder { model: Model::new(n_inputs) }
    }

    /// Reads a model file (or the model part of a checkpoint).
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = c_path("bsnn::Model::load", path.as_ref())?;
        let mut out = ptr::null_mut();
        check(unsafe { sys::bsnn_model_load(&mut out, path.as_ptr()) })?;
        made(out).map(Model::from_raw)
    }

    /// Parses a model from bytes made by [`ModelRef::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        let mut out = ptr::null_mut();
        check(unsafe {
            sys::bsnn_model_load_buffer(&mut out, bytes.as_ptr() as *const c_void, bytes.len())
        })?;
        made(out).map(Model::from_raw)
    }
}

impl ModelRef {
    /// Appends a layer, which the model takes (the layer is consumed on
    /// failure too, as the header says).
    pub fn add(&mut self, layer: Layer) -> Result<&mut ModelRef> {
        check(unsafe { sys::bsnn_model_add(self.as_mut_ptr(), layer.into_raw()) })?;
        Ok(self)
    }

    pub fn n_layers(&self) -> usize {
        unsafe { sys::bsnn_model_n_layers(self.as_ptr()) }
    }

    pub fn n_inputs(&self) -> usize {
        unsafe { sys::bsnn_model_n_inputs(self.as_ptr()) }
    }

    /// Width of the last layer (the inputs when there are no layers).
    pub fn n_outputs(&self) -> usize {
        unsafe { sys::bsnn_model_n_outputs(self.as_ptr()) }
    }

    /// The i-th layer, still owned by the model.
    pub fn layer(&self, i: usize) -> Option<&LayerRef> {
        // bsnn_model_layer only looks the layer up; it takes a non-const
        // model for the mutable use below.
        let raw = unsafe { sys::bsnn_model_layer(self.as_ptr() as *mut sys::bsnn_model, i) };
        // SAFETY: the layer lives as long as the model, borrowed by &self.
        (!raw.is_null()).then(|| unsafe { LayerRef::from_ptr(raw) })
    }

    /// The i-th layer, to change its settings.
    pub fn layer_mut(&mut self, i: usize) -> Option<&mut LayerRef> {
        let raw = unsafe { sys::bsnn_model_layer(self.as_mut_ptr(), i) };
        (!raw.is_null()).then(|| unsafe { LayerRef::from_ptr_mut(raw) })
    }

    /// Chooses the objective (required before training).
    pub fn set_loss(&mut self, loss: Loss) -> Result<&mut ModelRef> {
        check(unsafe { sys::bsnn_model_set_loss(self.as_mut_ptr(), loss.raw()) })?;
        Ok(self)
    }

    /// The objective, `None` before one is chosen.
    pub fn loss(&self) -> Option<Loss> {
        let v = self.get(ModelParam::Loss).ok()?;
        Loss::from_raw(v as sys::bsnn_loss)
    }

    /// Training mode (dropout on, batch statistics) or evaluation mode, for
    /// training steps; inference always runs in evaluation mode.
    pub fn set_training(&mut self, training: bool) -> Result<&mut ModelRef> {
        check(unsafe { sys::bsnn_model_set_training(self.as_mut_ptr(), training as i32) })?;
        Ok(self)
    }

    pub fn is_training(&self) -> bool {
        self.get(ModelParam::Training).map(|v| v != 0.0).unwrap_or(false)
    }

    /// Changes a numeric setting (the seed reinitialises the parameters).
    pub fn set(&mut self, param: ModelParam, value: impl Into<f64>) -> Result<&mut ModelRef> {
        check(unsafe { sys::bsnn_model_set(self.as_mut_ptr(), param.raw(), value.into()) })?;
        Ok(self)
    }

    pub fn get(&self, param: ModelParam) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_model_get(&mut out, self.as_ptr(), param.raw()) })?;
        Ok(out)
    }

    pub fn bounds(&self, param: ModelParam) -> Result<Bounds> {
        Bounds::query(|lo, hi, open| unsafe {
            sys::bsnn_model_bounds(lo, hi, open, self.as_ptr(), param.raw())
        })
    }

    /// The initialisation seed, every `u64` value; reinitialises the layers.
    pub fn set_seed(&mut self, seed: u64) -> Result<&mut ModelRef> {
        check(unsafe { sys::bsnn_model_set_seed(self.as_mut_ptr(), seed) })?;
        Ok(self)
    }

    pub fn seed(&self) -> Result<u64> {
        let mut out = 0;
        check(unsafe { sys::bsnn_model_get_seed(&mut out, self.as_ptr()) })?;
        Ok(out)
    }

    /// Reinitialises every parameter from `seed`.
    pub fn init_params(&mut self, seed: u64) -> Result<()> {
        check(unsafe { sys::bsnn_model_init_params(self.as_mut_ptr(), seed) })
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        unsafe { sys::bsnn_model_param_count(self.as_ptr()) }
    }

    /// All parameters as one flat array (layer by layer; dense: W [in][out]
    /// row-major, then b).
    pub fn params(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.param_count()];
        check(unsafe { sys::bsnn_model_get_params(out.as_mut_ptr(), out.len(), self.as_ptr()) })?;
        Ok(out)
    }

    /// Overwrites every parameter (same order and count as `params`).
    pub fn set_params(&mut self, params: &[f32]) -> Result<()> {
        check(unsafe { sys::bsnn_model_set_params(self.as_mut_ptr(), params.as_ptr(), params.len()) })
    }

    /// The gradient of the last training step, in parameter order.
    pub fn grads(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.param_count()];
        check(unsafe { sys::bsnn_model_get_grads(out.as_mut_ptr(), out.len(), self.as_ptr()) })?;
        Ok(out)
    }

    /// Rows in `x` for this model, or a shape error naming `who`.
    fn rows_of(&self, who: &str, x: &[f32]) -> Result<usize> {
        let width = self.n_inputs();
        if x.is_empty() || x.len() % width != 0 {
            return shape_error(who, format!("{} floats are not whole rows of {} inputs", x.len(), width));
        }
        Ok(x.len() / width)
    }

    /// Inference (evaluation mode) on `x` `[n][n_inputs]` into `out`
    /// `[n][n_outputs]`, through the model's own workspace.
    pub fn forward(&mut self, x: &impl Input, out: &mut Tensor<'_>) -> Result<()> {
        check(unsafe { sys::bsnn_model_forward(out.as_mut_ptr(), self.as_mut_ptr(), x.as_input_ptr()) })
    }

    /// The outputs for rows `x` (row-major, `n * n_inputs` floats), as
    /// `n * n_outputs` floats; no copy of `x`.
    pub fn predict(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        let rows = self.rows_of("bsnn::Model::predict", x)?;
        let input = TensorView::new(x, &[rows, self.n_inputs()])?;
        let mut out = vec![0.0; rows * self.n_outputs()];
        let shape = [rows, self.n_outputs()];
        self.forward(&input, &mut Tensor::wrap(&mut out, &shape)?)?;
        Ok(out)
    }

    /// [`forward`](Self::forward) through the caller's workspace: threads
    /// may share one model this way, each with its own workspace.
    pub fn forward_ws(&self, ws: &mut Workspace, x: &impl Input, out: &mut Tensor<'_>) -> Result<()> {
        check(unsafe {
            sys::bsnn_model_forward_ws(out.as_mut_ptr(), self.as_ptr(), ws.raw.as_ptr(), x.as_input_ptr())
        })
    }

    /// [`predict`](Self::predict) through the caller's workspace.
    pub fn predict_ws(&self, ws: &mut Workspace, x: &[f32]) -> Result<Vec<f32>> {
        let rows = self.rows_of("bsnn::Model::predict_ws", x)?;
        let input = TensorView::new(x, &[rows, self.n_inputs()])?;
        let mut out = vec![0.0; rows * self.n_outputs()];
        let shape = [rows, self.n_outputs()];
        self.forward_ws(ws, &input, &mut Tensor::wrap(&mut out, &shape)?)?;
        Ok(out)
    }

    /// Mean loss and accuracy over `ds`, `batch_size` rows at a time (the
    /// result does not depend on it). Needs a loss chosen.
    pub fn evaluate(&mut self, ds: &DatasetRef, batch_size: usize) -> Result<Evaluation> {
        let (mut loss, mut accuracy) = (0.0, 0.0);
        check(unsafe {
            sys::bsnn_model_evaluate(&mut loss, &mut accuracy, self.as_mut_ptr(), ds.as_ptr(), batch_size)
        })?;
        Ok(Evaluation { loss, accuracy })
    }

    /// The accuracy alone (needs no loss).
    pub fn accuracy(&mut self, ds: &DatasetRef, batch_size: usize) -> Result<f64> {
        let mut accuracy = 0.0;
        check(unsafe {
            sys::bsnn_model_evaluate(
                ptr::null_mut(),
                &mut accuracy,
                self.as_mut_ptr(),
                ds.as_ptr(),
                batch_size,
            )
        })?;
        Ok(accuracy)
    }

    /// [`evaluate`](Self::evaluate) through the caller's workspace.
    pub fn evaluate_ws(&self, ws: &mut Workspace, ds: &DatasetRef, batch_size: usize) -> Result<Evaluation> {
        let (mut loss, mut accuracy) = (0.0, 0.0);
        check(unsafe {
            sys::bsnn_model_evaluate_ws(
                &mut loss,
                &mut accuracy,
                self.as_ptr(),
                ws.raw.as_ptr(),
                ds.as_ptr(),
                batch_size,
            )
        })?;
        Ok(Evaluation { loss, accuracy })
    }

    /// One forward, backward and update on the batch `x`, `y`; returns the
    /// batch's mean loss before the update.
    pub fn train_step(&mut self, opt: &mut OptimizerRef, x: &impl Input, y: &impl Input) -> Result<f64> {
        let mut loss = 0.0;
        check(unsafe {
            sys::bsnn_model_train_step(
                &mut loss,
                self.as_mut_ptr(),
                opt.as_mut_ptr(),
                x.as_input_ptr(),
                y.as_input_ptr(),
            )
        })?;
        Ok(loss)
    }

    /// Training for `epochs` epochs over `train`, batches from `sched`
    /// (made for `train.len()` samples): add a validation set, a history or
    /// a callback on the returned [`Fit`], then [`Fit::run`] it.
    pub fn fit<'a>(
        &'a mut self,
        opt: &'a mut OptimizerRef,
        sched: &'a mut SchedulerRef,
        train: &'a DatasetRef,
        epochs: usize,
    ) -> Fit<'a> {
        Fit::new(self, opt, sched, train, epochs)
    }

    /// Bytes the library allocates to train with `opt` at `batch` rows per
    /// pass.
    pub fn memory(&self, opt: &OptimizerRef, batch: usize) -> Result<usize> {
        let mut out = 0;
        check(unsafe { sys::bsnn_model_memory(&mut out, self.as_ptr(), opt.as_ptr(), batch) })?;
        Ok(out)
    }

    /// The largest batch (at most `max_rows`) whose training memory fits in
    /// `budget_bytes`.
    pub fn max_batch(&self, opt: &OptimizerRef, budget_bytes: usize, max_rows: usize) -> Result<usize> {
        let mut out = 0;
        check(unsafe {
            sys::bsnn_model_max_batch(&mut out, self.as_ptr(), opt.as_ptr(), budget_bytes, max_rows)
        })?;
        Ok(out)
    }

    /// Writes the model to `path` atomically (a crash leaves the old file or
    /// the new one).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path("bsnn::Model::save", path.as_ref())?;
        check(unsafe { sys::bsnn_model_save(self.as_ptr(), path.as_ptr()) })
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut size = 0;
        check(unsafe { sys::bsnn_model_save_size(&mut size, self.as_ptr()) })?;
        let mut buf = vec![0u8; size];
        let mut written = 0;
        check(unsafe {
            sys::bsnn_model_save_buffer(
                buf.as_mut_ptr() as *mut c_void,
                buf.len(),
                &mut written,
                self.as_ptr(),
            )
        })?;
        buf.truncate(written);
        Ok(buf)
    }

    /// An independent copy (through the model format: layers, settings,
    /// parameters, statistics).
    pub fn try_clone(&self) -> Result<Model> {
        Model::from_bytes(&self.to_bytes()?)
    }
}

/// Builds a model in one expression; the first failure is kept and
/// returned by [`build`](Self::build).
///
/// ```
/// use bsnn::{Activation, Loss, Model};
/// let model = Model::builder(4)
///     .dense(8)
///     .activation(Activation::Tanh)
///     .dense(1)
///     .loss(Loss::BceLogits)
///     .seed(3)
///     .build()?;
/// assert_eq!(model.param_count(), 4 * 8 + 8 + 8 + 1);
/// # Ok::<(), bsnn::Error>(())
/// ```
pub struct ModelBuilder {
    model: Result<Model>,
}

impl ModelBuilder {
    fn then(mut self, f: impl FnOnce(&mut Model) -> Result<()>) -> ModelBuilder {
        if let Ok(model) = &mut self.model {
            if let Err(e) = f(model) {
                self.model = Err(e);
            }
        }
        self
    }

    /// Appends a layer made elsewhere (a constructor's error is kept too).
    pub fn layer(self, layer: Result<Layer>) -> ModelBuilder {
        self.then(|m| m.add(layer?).map(drop))
    }

    pub fn dense(self, n_outputs: usize) -> ModelBuilder {
        self.layer(Layer::dense(n_outputs))
    }

    pub fn activation(self, kind: Activation) -> ModelBuilder {
        self.layer(Layer::activation(kind))
    }

    pub fn batchnorm(self) -> ModelBuilder {
        self.layer(Layer::batchnorm())
    }

    pub fn layernorm(self) -> ModelBuilder {
        self.layer(Layer::layernorm())
    }

    pub fn dropout(self, rate: f64) -> ModelBuilder {
        self.layer(Layer::dropout(rate))
    }

    pub fn standardize(self, mean: &[f32], std: &[f32]) -> ModelBuilder {
        self.layer(Layer::standardize(mean, std))
    }

    pub fn loss(self, loss: Loss) -> ModelBuilder {
        self.then(|m| m.set_loss(loss).map(drop))
    }

    /// The initialisation seed (reinitialises the layers added so far and
    /// seeds those added later).
    pub fn seed(self, seed: u64) -> ModelBuilder {
        self.then(|m| m.set_seed(seed).map(drop))
    }

    /// The default initialiser of dense layers added afterwards.
    pub fn init(self, init: Init) -> ModelBuilder {
        self.then(|m| m.set(ModelParam::Init, init).map(drop))
    }

    /// The model, or the first error met.
    pub fn build(self) -> Result<Model> {
        self.model
    }
}

/// Buffers of one inference thread, for the `_ws` calls on one model.
pub struct Workspace {
    raw: NonNull<sys::bsnn_workspace>,
}

// SAFETY: a workspace serves one thread at a time (&mut in every call).
unsafe impl Send for Workspace {}

impl Workspace {
    /// A workspace serving `model` only.
    pub fn new(model: &ModelRef) -> Result<Workspace> {
        made(unsafe { sys::bsnn_workspace_create(model.as_ptr()) }).map(|raw| Workspace { raw })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        unsafe { sys::bsnn_workspace_free(self.raw.as_ptr()) }
    }
}
