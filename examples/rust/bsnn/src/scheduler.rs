//! The batch scheduler: which samples form each batch, how the batch size
//! and the learning rate evolve. Hand it to training, or iterate it by hand.

use crate::enums::SchedParam;
use crate::error::{check, made, shape_error, Result};
use crate::handle::handle;
use crate::layer::Bounds;
use crate::sys;
use std::ptr;

handle!(
    /// A scheduler over a fixed number of samples.
    Scheduler,
    /// A scheduler, owned ([`Scheduler`]) or lent during training.
    SchedulerRef,
    bsnn_scheduler,
    bsnn_scheduler_free
);

/// One batch from [`SchedulerRef::next`]: sample indices, borrowed from the
/// scheduler until its next call.
#[derive(Debug)]
pub struct Batch<'a> {
    pub indices: &'a [usize],
    /// This batch is the last of its epoch.
    pub epoch_end: bool,
}

impl Scheduler {
    /// A scheduler over `n_samples` samples with the defaults (batch 32,
    /// shuffled with seed 0).
    pub fn new(n_samples: usize) -> Result<Scheduler> {
        made(unsafe { sys::bsnn_scheduler_create(n_samples) }).map(Scheduler::from_raw)
    }

    /// Builder form of [`SchedulerRef::set`].
    pub fn with(mut self, param: SchedParam, value: impl Into<f64>) -> Result<Scheduler> {
        self.set(param, value)?;
        Ok(self)
    }
}

impl SchedulerRef {
    /// Changes a setting (batch settings from the next epoch on).
    pub fn set(&mut self, param: SchedParam, value: impl Into<f64>) -> Result<&mut SchedulerRef> {
        check(unsafe { sys::bsnn_scheduler_set(self.as_mut_ptr(), param.raw(), value.into()) })?;
        Ok(self)
    }

    pub fn get(&self, param: SchedParam) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_scheduler_get(&mut out, self.as_ptr(), param.raw()) })?;
        Ok(out)
    }

    /// The valid range of a setting for this scheduler.
    pub fn bounds(&self, param: SchedParam) -> Result<Bounds> {
        Bounds::query(|lo, hi, open| unsafe {
            sys::bsnn_scheduler_bounds(lo, hi, open, self.as_ptr(), param.raw())
        })
    }

    /// Samples per batch.
    pub fn set_batch_size(&mut self, n: usize) -> Result<&mut SchedulerRef> {
        self.set(SchedParam::BatchSize, n as f64)
    }

    /// The shuffle seed, every `u64` value.
    pub fn set_seed(&mut self, seed: u64) -> Result<&mut SchedulerRef> {
        check(unsafe { sys::bsnn_scheduler_set_seed(self.as_mut_ptr(), seed) })?;
        Ok(self)
    }

    pub fn seed(&self) -> Result<u64> {
        let mut out = 0;
        check(unsafe { sys::bsnn_scheduler_get_seed(&mut out, self.as_ptr()) })?;
        Ok(out)
    }

    /// Bytes training may use (0: no limit); larger batches are split.
    pub fn set_memory_budget(&mut self, bytes: usize) -> Result<&mut SchedulerRef> {
        check(unsafe { sys::bsnn_scheduler_set_memory_budget(self.as_mut_ptr(), bytes) })?;
        Ok(self)
    }

    pub fn memory_budget(&self) -> Result<usize> {
        let mut out = 0;
        check(unsafe { sys::bsnn_scheduler_get_memory_budget(&mut out, self.as_ptr()) })?;
        Ok(out)
    }

    /// Batch-size steps for `BatchSchedule::Steps`: from epoch `epochs[i]`
    /// on, batches of `sizes[i]`. Empty slices clear them.
    pub fn set_batch_steps(&mut self, epochs: &[usize], sizes: &[usize]) -> Result<&mut SchedulerRef> {
        if epochs.len() != sizes.len() {
            return shape_error(
                "bsnn::Scheduler::set_batch_steps",
                format!("{} epochs but {} sizes", epochs.len(), sizes.len()),
            );
        }
        check(unsafe {
            sys::bsnn_scheduler_set_batch_steps(
                self.as_mut_ptr(),
                epochs.as_ptr(),
                sizes.as_ptr(),
                epochs.len(),
            )
        })?;
        Ok(self)
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Batch<'_>> {
        let (mut idx, mut count, mut end) = (ptr::null(), 0, 0);
        check(unsafe { sys::bsnn_scheduler_next(&mut idx, &mut count, &mut end, self.as_mut_ptr()) })?;
        // SAFETY: count indices owned by the scheduler, valid until the next
        // call, which the &mut borrow of the result prevents.
        let indices = if count == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(idx, count) } };
        Ok(Batch { indices, epoch_end: end != 0 })
    }

    /// Back to epoch 0, step 0, with the original seed.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::bsnn_scheduler_reset(self.as_mut_ptr()) })
    }

    /// Moves to batch `step` of epoch `epoch`, as if iterated there.
    pub fn seek(&mut self, epoch: usize, step: usize) -> Result<()> {
        check(unsafe { sys::bsnn_scheduler_seek(self.as_mut_ptr(), epoch, step) })
    }

    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        unsafe { sys::bsnn_scheduler_epoch(self.as_ptr()) }
    }

    /// Batches handed out in the current epoch.
    pub fn step(&self) -> usize {
        unsafe { sys::bsnn_scheduler_step(self.as_ptr()) }
    }

    /// Batches handed out since the start (the warmup clock).
    pub fn total_steps(&self) -> usize {
        unsafe { sys::bsnn_scheduler_total_steps(self.as_ptr()) }
    }

    /// The batch size of the current (between epochs: the next) epoch.
    pub fn batch_size(&self) -> usize {
        unsafe { sys::bsnn_scheduler_batch_size(self.as_ptr()) }
    }

    /// The batch size the schedule gives epoch `epoch`.
    pub fn batch_size_at(&self, epoch: usize) -> usize {
        unsafe { sys::bsnn_scheduler_batch_size_at(self.as_ptr(), epoch) }
    }

    pub fn n_samples(&self) -> usize {
        unsafe { sys::bsnn_scheduler_n_samples(self.as_ptr()) }
    }

    /// The learning rate of the update for the last batch, for base rate
    /// `base_lr` (schedule, scaling and warmup applied).
    pub fn lr(&self, base_lr: f64) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_scheduler_lr(&mut out, self.as_ptr(), base_lr) })?;
        Ok(out)
    }
}
