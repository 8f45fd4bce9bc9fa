//! Checkpoints: a model with its optimizer state and scheduler position
//! (epoch, step, order, RNG states), so training resumed from one gives
//! parameters bit-identical to a run that never stopped.

use crate::error::{c_path, check, Error, Result, Status};
use crate::model::{Model, ModelRef};
use crate::optimizer::{Optimizer, OptimizerRef};
use crate::scheduler::{Scheduler, SchedulerRef};
use crate::sys;
use std::os::raw::c_void;
use std::path::Path;
use std::ptr::{self, NonNull};

/// What a checkpoint holds.
pub struct Checkpoint {
    pub model: Model,
    /// The stored optimizer, already bound to `model`.
    pub optimizer: Option<Optimizer>,
    pub scheduler: Option<Scheduler>,
}

impl Checkpoint {
    /// Writes `model` (with `opt` and `sched` when given) to `path` atomically.
    pub fn save(
        path: impl AsRef<Path>,
        model: &ModelRef,
        opt: Option<&OptimizerRef>,
        sched: Option<&SchedulerRef>,
    ) -> Result<()> {
        let path = c_path("bsnn::Checkpoint::save", path.as_ref())?;
        check(unsafe {
            sys::bsnn_checkpoint_save(model.as_ptr(), opt_ptr(opt), sched_ptr(sched), path.as_ptr())
        })
    }

    /// The checkpoint's bytes.
    pub fn to_bytes(
        model: &ModelRef,
        opt: Option<&OptimizerRef>,
        sched: Option<&SchedulerRef>,
    ) -> Result<Vec<u8>> {
        let (mut buf, mut size) = (ptr::null_mut(), 0);
        check(unsafe {
            sys::bsnn_checkpoint_save_alloc(
                &mut buf,
                &mut size,
                model.as_ptr(),
                opt_ptr(opt),
                sched_ptr(sched),
            )
        })?;
        // SAFETY: size bytes at buf, released right after the copy.
        let bytes = unsafe { std::slice::from_raw_parts(buf as *const u8, size) }.to_vec();
        unsafe { sys::bsnn_buffer_free(buf) };
        Ok(bytes)
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = c_path("bsnn::Checkpoint::load", path.as_ref())?;
        Checkpoint::from_parts(|m, o, s| unsafe { sys::bsnn_checkpoint_load(m, o, s, path.as_ptr()) })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
        Checkpoint::from_parts(|m, o, s| unsafe {
            sys::bsnn_checkpoint_load_buffer(m, o, s, bytes.as_ptr() as *const c_void, bytes.len())
        })
    }

    fn from_parts(
        load: impl FnOnce(
            *mut *mut sys::bsnn_model,
            *mut *mut sys::bsnn_optimizer,
            *mut *mut sys::bsnn_scheduler,
        ) -> sys::bsnn_status,
    ) -> Result<Checkpoint> {
        let (mut m, mut o, mut s) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        check(load(&mut m, &mut o, &mut s))?;
        // Own every part before anything can fail, so none leaks.
        let optimizer = NonNull::new(o).map(Optimizer::from_raw);
        let scheduler = NonNull::new(s).map(Scheduler::from_raw);
        let model = NonNull::new(m)
            .map(Model::from_raw)
            .ok_or_else(|| Error::new(Status::Failed, "bsnn::Checkpoint: no model returned".to_string()))?;
        Ok(Checkpoint { model, optimizer, scheduler })
    }
}

fn opt_ptr(opt: Option<&OptimizerRef>) -> *const sys::bsnn_optimizer {
    opt.map_or(ptr::null(), |o| o.as_ptr())
}

fn sched_ptr(sched: Option<&SchedulerRef>) -> *const sys::bsnn_scheduler {
    sched.map_or(ptr::null(), |s| s.as_ptr())
}
