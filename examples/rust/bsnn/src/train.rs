//! Whole training runs: [`Fit`] gathers the options of
//! `bsnn_model_train_ex` and runs it, calling a Rust closure after each
//! update and epoch.
//!
//! The closure runs inside the C training loop, so it must not unwind
//! through it: a panic is caught at the boundary, training is stopped, and
//! the panic is resumed in the caller once the C call has returned.

use crate::dataset::DatasetRef;
use crate::enums::EventKind;
use crate::error::{check, Result};
use crate::history::{History, HistoryRef};
use crate::model::{Evaluation, ModelRef};
use crate::optimizer::OptimizerRef;
use crate::scheduler::SchedulerRef;
use crate::sys;
use std::any::Any;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::os::raw::{c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

/// What the training loop reports to a callback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// 0-based epoch.
    pub epoch: usize,
    /// Updates since this training call began.
    pub step: usize,
    /// Samples in the last batch.
    pub batch_size: usize,
    /// The batch's mean loss (Step) or the epoch's mean training loss (Epoch).
    pub loss: f64,
}

/// The callback's view of the run in progress: the event, and read access
/// to the model, optimizer, scheduler and history (enough to evaluate, save
/// a model or write a checkpoint between updates).
pub struct Progress<'a> {
    pub event: Event,
    model: *mut sys::bsnn_model,
    opt: *mut sys::bsnn_optimizer,
    sched: *mut sys::bsnn_scheduler,
    history: *mut sys::bsnn_history,
    _run: PhantomData<&'a mut ()>,
}

impl Progress<'_> {
    pub fn model(&self) -> &ModelRef {
        // SAFETY: the training call holds the model for the callback's
        // duration and does not touch it until the callback returns; the
        // view is shared, so nothing can add layers, free or swap it.
        unsafe { ModelRef::from_ptr(self.model) }
    }

    pub fn optimizer(&self) -> &OptimizerRef {
        unsafe { OptimizerRef::from_ptr(self.opt) }
    }

    pub fn scheduler(&self) -> &SchedulerRef {
        unsafe { SchedulerRef::from_ptr(self.sched) }
    }

    /// The history being filled (its row for this epoch is already there at
    /// an Epoch event), when one was attached.
    pub fn history(&self) -> Option<&HistoryRef> {
        (!self.history.is_null()).then(|| unsafe { HistoryRef::from_ptr(self.history) })
    }

    /// Evaluates the model as it is now (evaluation mode, the model's own
    /// workspace; training then goes on unchanged).
    pub fn evaluate(&mut self, ds: &DatasetRef, batch_size: usize) -> Result<Evaluation> {
        // SAFETY: as model(); &mut self excludes any outstanding view.
        unsafe { ModelRef::from_ptr_mut(self.model) }.evaluate(ds, batch_size)
    }
}

type Callback<'a> = dyn FnMut(&mut Progress<'_>) -> ControlFlow<()> + 'a;

/// A training run being set up by [`ModelRef::fit`](crate::ModelRef::fit).
pub struct Fit<'a> {
    model: &'a mut ModelRef,
    opt: &'a mut OptimizerRef,
    sched: &'a mut SchedulerRef,
    train: &'a DatasetRef,
    epochs: usize,
    validation: Option<&'a DatasetRef>,
    history: Option<&'a mut History>,
    callback: Option<Box<Callback<'a>>>,
}

struct CallbackState<'c, 'a> {
    callback: &'c mut Callback<'a>,
    model: *mut sys::bsnn_model,
    opt: *mut sys::bsnn_optimizer,
    sched: *mut sys::bsnn_scheduler,
    history: *mut sys::bsnn_history,
    panic: Option<Box<dyn Any + Send + 'static>>,
}

impl<'a> Fit<'a> {
    pub(crate) fn new(
        model: &'a mut ModelRef,
        opt: &'a mut OptimizerRef,
        sched: &'a mut SchedulerRef,
        train: &'a DatasetRef,
        epochs: usize,
    ) -> Fit<'a> {
        Fit { model, opt, sched, train, epochs, validation: None, history: None, callback: None }
    }

    /// Evaluate this set after each epoch into the history's validation
    /// columns (only when a history is attached, as the C call does).
    pub fn validation(mut self, val: &'a DatasetRef) -> Fit<'a> {
        self.validation = Some(val);
        self
    }

    /// Append one row per epoch to `history`.
    pub fn history(mut self, history: &'a mut History) -> Fit<'a> {
        self.history = Some(history);
        self
    }

    /// Call `f` after each update and each epoch; `ControlFlow::Break(())`
    /// stops training (not an error). A panic in `f` stops training and is
    /// resumed from [`run`](Self::run).
    pub fn on_event(mut self, f: impl FnMut(&mut Progress<'_>) -> ControlFlow<()> + 'a) -> Fit<'a> {
        self.callback = Some(Box::new(f));
        self
    }

    /// Trains; returns the number of updates done.
    pub fn run(self) -> Result<usize> {
        let Fit { model, opt, sched, train, epochs, validation, history, mut callback } = self;
        let model_ptr = model.as_mut_ptr();
        let opt_ptr = opt.as_mut_ptr();
        let sched_ptr = sched.as_mut_ptr();
        let history_ptr = history.map_or(ptr::null_mut(), |h| h.as_mut_ptr());
        let val_ptr = validation.map_or(ptr::null(), |v| v.as_ptr());
        let mut state = callback.as_deref_mut().map(|callback| CallbackState {
            callback,
            model: model_ptr,
            opt: opt_ptr,
            sched: sched_ptr,
            history: history_ptr,
            panic: None,
        });
        let (cb, user): (sys::bsnn_callback, *mut c_void) = match state.as_mut() {
            Some(s) => (Some(trampoline), s as *mut CallbackState as *mut c_void),
            None => (None, ptr::null_mut()),
        };
        let mut steps = 0;
        // SAFETY: every pointer is a live handle borrowed for 'a; `user`
        // points at `state`, which outlives the call.
        let status = unsafe {
            sys::bsnn_model_train_ex(
                &mut steps,
                model_ptr,
                opt_ptr,
                sched_ptr,
                train.as_ptr(),
                val_ptr,
                history_ptr,
                epochs,
                cb,
                user,
            )
        };
        if let Some(payload) = state.and_then(|s| s.panic) {
            panic::resume_unwind(payload);
        }
        check(status)?;
        Ok(steps)
    }
}

unsafe extern "C" fn trampoline(
    user: *mut c_void,
    event: sys::bsnn_event,
    epoch: usize,
    step: usize,
    batch_size: usize,
    loss: f64,
) -> c_int {
    // SAFETY: user is the CallbackState that Fit::run passed with this
    // function, alive for the whole C call.
    let state = &mut *(user as *mut CallbackState);
    if state.panic.is_some() {
        return 1;
    }
    let kind = match EventKind::from_raw(event) {
        Some(kind) => kind,
        None => return 0, // an event of a newer library: not ours to judge
    };
    let mut progress = Progress {
        event: Event { kind, epoch, step, batch_size, loss },
        model: state.model,
        opt: state.opt,
        sched: state.sched,
        history: state.history,
        _run: PhantomData,
    };
    let callback = &mut *state.callback;
    match panic::catch_unwind(AssertUnwindSafe(|| callback(&mut progress))) {
        Ok(ControlFlow::Continue(())) => 0,
        Ok(ControlFlow::Break(())) => 1,
        Err(payload) => {
            state.panic = Some(payload);
            1
        }
    }
}
