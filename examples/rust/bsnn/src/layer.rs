//! Layers: made by a constructor, configured, then moved into a model with
//! [`ModelRef::add`](crate::ModelRef::add), which consumes them. A layer
//! inside a model is reached as `&LayerRef` / `&mut LayerRef`.

use crate::enums::{Activation, LayerKind, LayerParam};
use crate::error::{check, made, shape_error, Result};
use crate::handle::handle;
use crate::sys;
use std::os::raw::c_uint;

/// The valid range of a setting (every `bsnn_X_bounds`): `lo <= v <= hi`,
/// with an end excluded when it is open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub lo: f64,
    pub hi: f64,
    pub lo_open: bool,
    pub hi_open: bool,
}

impl Bounds {
    /// Calls a C bounds query with the three out-pointers.
    pub(crate) fn query(
        f: impl FnOnce(*mut f64, *mut f64, *mut c_uint) -> sys::bsnn_status,
    ) -> Result<Bounds> {
        let (mut lo, mut hi, mut open) = (0.0, 0.0, 0);
        check(f(&mut lo, &mut hi, &mut open))?;
        Ok(Bounds {
            lo,
            hi,
            lo_open: open & sys::BSNN_BOUND_LO_OPEN != 0,
            hi_open: open & sys::BSNN_BOUND_HI_OPEN != 0,
        })
    }

    /// Whether `v` is in range (whole-number rules not included).
    pub fn contains(&self, v: f64) -> bool {
        let above = if self.lo_open { v > self.lo } else { v >= self.lo };
        let below = if self.hi_open { v < self.hi } else { v <= self.hi };
        above && below
    }
}

handle!(
    /// A layer not yet added to a model.
    Layer,
    /// A layer: one owned ([`Layer`]) or inside a model.
    LayerRef,
    bsnn_layer,
    bsnn_layer_free
);

impl Layer {
    /// A fully connected layer of `n_outputs` units (`y = x W + b`).
    pub fn dense(n_outputs: usize) -> Result<Layer> {
        // SAFETY: plain constructor.
        made(unsafe { sys::bsnn_layer_dense(n_outputs) }).map(Layer::from_raw)
    }

    pub fn activation(kind: Activation) -> Result<Layer> {
        made(unsafe { sys::bsnn_layer_activation(kind.raw()) }).map(Layer::from_raw)
    }

    /// Batch normalization per feature.
    pub fn batchnorm() -> Result<Layer> {
        made(unsafe { sys::bsnn_layer_batchnorm() }).map(Layer::from_raw)
    }

    /// Layer normalization over the features of each row.
    pub fn layernorm() -> Result<Layer> {
        made(unsafe { sys::bsnn_layer_layernorm() }).map(Layer::from_raw)
    }

    /// Inverted dropout with drop probability `rate` in [0, 1).
    pub fn dropout(rate: f64) -> Result<Layer> {
        made(unsafe { sys::bsnn_layer_dropout(rate) }).map(Layer::from_raw)
    }

    /// Fixed standardisation `(x - mean) / std` with statistics saved in the
    /// model (see [`Dataset::input_stats`](crate::Dataset::input_stats)).
    pub fn standardize(mean: &[f32], std: &[f32]) -> Result<Layer> {
        if mean.len() != std.len() {
            return shape_error(
                "bsnn::Layer::standardize",
                format!("{} means but {} standard deviations", mean.len(), std.len()),
            );
        }
        // SAFETY: both slices hold mean.len() floats; the layer copies them.
        made(unsafe { sys::bsnn_layer_standardize(mean.as_ptr(), std.as_ptr(), mean.len()) })
            .map(Layer::from_raw)
    }

    /// Builder form of [`LayerRef::set`].
    pub fn with(mut self, param: LayerParam, value: impl Into<f64>) -> Result<Layer> {
        self.set(param, value)?;
        Ok(self)
    }

    /// The valid range of `param` for layers of `kind`.
    pub fn bounds(kind: LayerKind, param: LayerParam) -> Result<Bounds> {
        Bounds::query(|lo, hi, open| unsafe { sys::bsnn_layer_bounds(lo, hi, open, kind.raw(), param.raw()) })
    }

    /// Hands the handle over (to `bsnn_model_add`, which consumes it).
    pub(crate) fn into_raw(self) -> *mut sys::bsnn_layer {
        let raw = self.as_ptr();
        std::mem::forget(self);
        raw
    }
}

impl LayerRef {
    /// The layer's kind; `None` for a kind this crate does not know.
    pub fn kind(&self) -> Option<LayerKind> {
        // SAFETY: live handle.
        LayerKind::from_raw(unsafe { sys::bsnn_layer_kind_of(self.as_ptr()) })
    }

    /// Changes a numeric setting (the old value is kept on error).
    pub fn set(&mut self, param: LayerParam, value: impl Into<f64>) -> Result<&mut LayerRef> {
        check(unsafe { sys::bsnn_layer_set(self.as_mut_ptr(), param.raw(), value.into()) })?;
        Ok(self)
    }

    pub fn get(&self, param: LayerParam) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_layer_get(&mut out, self.as_ptr(), param.raw()) })?;
        Ok(out)
    }

    /// The seed of a dropout layer, every `u64` value.
    pub fn set_seed(&mut self, seed: u64) -> Result<&mut LayerRef> {
        check(unsafe { sys::bsnn_layer_set_seed(self.as_mut_ptr(), seed) })?;
        Ok(self)
    }

    pub fn seed(&self) -> Result<u64> {
        let mut out = 0;
        check(unsafe { sys::bsnn_layer_get_seed(&mut out, self.as_ptr()) })?;
        Ok(out)
    }
}
