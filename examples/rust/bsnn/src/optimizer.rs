//! Update rules with PyTorch's defaults; hyperparameters by enum.

use crate::enums::{OptParam, OptimizerKind};
use crate::error::{check, made, Result};
use crate::handle::handle;
use crate::layer::Bounds;
use crate::sys;

handle!(
    /// An update rule and its state. The state is bound to the first model
    /// it trains until [`OptimizerRef::reset`].
    Optimizer,
    /// An optimizer, owned ([`Optimizer`]) or lent during training.
    OptimizerRef,
    bsnn_optimizer,
    bsnn_optimizer_free
);

impl Optimizer {
    pub fn new(kind: OptimizerKind) -> Result<Optimizer> {
        // SAFETY: plain constructor.
        made(unsafe { sys::bsnn_optimizer_create(kind.raw()) }).map(Optimizer::from_raw)
    }

    /// Builder form of [`OptimizerRef::set`].
    pub fn with(mut self, param: OptParam, value: impl Into<f64>) -> Result<Optimizer> {
        self.set(param, value)?;
        Ok(self)
    }

    /// The valid range of `param` for rules of `kind`.
    pub fn bounds(kind: OptimizerKind, param: OptParam) -> Result<Bounds> {
        Bounds::query(|lo, hi, open| unsafe {
            sys::bsnn_optimizer_bounds(lo, hi, open, kind.raw(), param.raw())
        })
    }
}

impl OptimizerRef {
    /// The kind it was made with.
    pub fn kind(&self) -> Option<OptimizerKind> {
        OptimizerKind::from_raw(unsafe { sys::bsnn_optimizer_kind_of(self.as_ptr()) })
    }

    /// Sets a hyperparameter (effective at the next update; unchanged on error).
    pub fn set(&mut self, param: OptParam, value: impl Into<f64>) -> Result<&mut OptimizerRef> {
        check(unsafe { sys::bsnn_optimizer_set(self.as_mut_ptr(), param.raw(), value.into()) })?;
        Ok(self)
    }

    pub fn get(&self, param: OptParam) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_optimizer_get(&mut out, self.as_ptr(), param.raw()) })?;
        Ok(out)
    }

    /// Forgets the state and the binding to a model, keeping hyperparameters.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::bsnn_optimizer_reset(self.as_mut_ptr()) })
    }
}
