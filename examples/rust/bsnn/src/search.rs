//! The batch-size search: the same model, initial parameters and data order
//! trained at several batch sizes, compared on a validation metric.

use crate::dataset::DatasetRef;
use crate::enums::{SearchCol, SearchParam};
use crate::error::{c_path, check, made, Result};
use crate::layer::Bounds;
use crate::model::ModelRef;
use crate::optimizer::OptimizerRef;
use crate::scheduler::SchedulerRef;
use crate::sys;
use std::path::Path;
use std::ptr::{self, NonNull};

/// One candidate's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchRow {
    pub batch: usize,
    /// Epochs trained (fractional when cut short by a budget).
    pub epochs: f64,
    pub updates: usize,
    pub train_loss: f64,
    /// +inf when training diverged.
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub seconds: f64,
    /// Training memory at the rows per pass.
    pub peak_bytes: usize,
    /// Split into micro-batches to fit the memory budget.
    pub accumulated: bool,
    pub micro_batch: usize,
}

/// A batch-size search with its settings and results.
pub struct Search {
    raw: NonNull<sys::bsnn_search>,
}

// SAFETY: no thread affinity; &self methods only read.
unsafe impl Send for Search {}
unsafe impl Sync for Search {}

impl Drop for Search {
    fn drop(&mut self) {
        unsafe { sys::bsnn_search_free(self.raw.as_ptr()) }
    }
}

impl Search {
    /// A search with the defaults (start 128, 5 epochs each, validation loss).
    pub fn new() -> Result<Search> {
        made(unsafe { sys::bsnn_search_create() }).map(|raw| Search { raw })
    }

    /// Builder form of [`set`](Self::set).
    pub fn with(mut self, param: SearchParam, value: impl Into<f64>) -> Result<Search> {
        self.set(param, value)?;
        Ok(self)
    }

    pub fn set(&mut self, param: SearchParam, value: impl Into<f64>) -> Result<&mut Search> {
        check(unsafe { sys::bsnn_search_set(self.raw.as_ptr(), param.raw(), value.into()) })?;
        Ok(self)
    }

    pub fn get(&self, param: SearchParam) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_search_get(&mut out, self.raw.as_ptr(), param.raw()) })?;
        Ok(out)
    }

    pub fn bounds(&self, param: SearchParam) -> Result<Bounds> {
        Bounds::query(|lo, hi, open| unsafe {
            sys::bsnn_search_bounds(lo, hi, open, self.raw.as_ptr(), param.raw())
        })
    }

    /// The data-order seed, every `u64` value.
    pub fn set_seed(&mut self, seed: u64) -> Result<&mut Search> {
        check(unsafe { sys::bsnn_search_set_seed(self.raw.as_ptr(), seed) })?;
        Ok(self)
    }

    pub fn seed(&self) -> Result<u64> {
        let mut out = 0;
        check(unsafe { sys::bsnn_search_get_seed(&mut out, self.raw.as_ptr()) })?;
        Ok(out)
    }

    /// Bytes per candidate (0: none); larger batches accumulate gradients.
    pub fn set_memory_budget(&mut self, bytes: usize) -> Result<&mut Search> {
        check(unsafe { sys::bsnn_search_set_memory_budget(self.raw.as_ptr(), bytes) })?;
        Ok(self)
    }

    pub fn memory_budget(&self) -> Result<usize> {
        let mut out = 0;
        check(unsafe { sys::bsnn_search_get_memory_budget(&mut out, self.raw.as_ptr()) })?;
        Ok(out)
    }

    /// Runs the halving/doubling heuristic on `train`, compared on `val`;
    /// the model's parameters and state are restored afterwards. `template`
    /// lends its scheduler settings (None: defaults, shuffled). Returns the
    /// chosen batch size.
    pub fn run(
        &mut self,
        model: &mut ModelRef,
        opt: &mut OptimizerRef,
        train: &DatasetRef,
        val: &DatasetRef,
        template: Option<&SchedulerRef>,
    ) -> Result<usize> {
        let mut best = 0;
        check(unsafe {
            sys::bsnn_search_run(
                &mut best,
                self.raw.as_ptr(),
                model.as_mut_ptr(),
                opt.as_mut_ptr(),
                train.as_ptr(),
                val.as_ptr(),
                tmpl(template),
            )
        })?;
        Ok(best)
    }

    /// Tries every size in `sizes`, in order; returns the best.
    pub fn sweep(
        &mut self,
        model: &mut ModelRef,
        opt: &mut OptimizerRef,
        train: &DatasetRef,
        val: &DatasetRef,
        template: Option<&SchedulerRef>,
        sizes: &[usize],
    ) -> Result<usize> {
        let mut best = 0;
        check(unsafe {
            sys::bsnn_search_sweep(
                &mut best,
                self.raw.as_ptr(),
                model.as_mut_ptr(),
                opt.as_mut_ptr(),
                train.as_ptr(),
                val.as_ptr(),
                tmpl(template),
                sizes.as_ptr(),
                sizes.len(),
            )
        })?;
        Ok(best)
    }

    /// Number of result rows (candidates tried).
    pub fn len(&self) -> usize {
        unsafe { sys::bsnn_search_count(self.raw.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chosen batch size of the last run or sweep.
    pub fn best(&self) -> Option<usize> {
        match unsafe { sys::bsnn_search_best(self.raw.as_ptr()) } {
            0 => None,
            n => Some(n),
        }
    }

    /// Column `col` of result row `row`.
    pub fn result(&self, row: usize, col: SearchCol) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_search_result(&mut out, self.raw.as_ptr(), row, col.raw()) })?;
        Ok(out)
    }

    /// Every result row, in the order the candidates were tried.
    pub fn rows(&self) -> Result<Vec<SearchRow>> {
        (0..self.len())
            .map(|r| {
                let get = |c| self.result(r, c);
                Ok(SearchRow {
                    batch: get(SearchCol::Batch)? as usize,
                    epochs: get(SearchCol::Epochs)?,
                    updates: get(SearchCol::Updates)? as usize,
                    train_loss: get(SearchCol::TrainLoss)?,
                    val_loss: get(SearchCol::ValLoss)?,
                    val_accuracy: get(SearchCol::ValAccuracy)?,
                    seconds: get(SearchCol::Seconds)?,
                    peak_bytes: get(SearchCol::PeakBytes)? as usize,
                    accumulated: get(SearchCol::Accumulated)? != 0.0,
                    micro_batch: get(SearchCol::MicroBatch)? as usize,
                })
            })
            .collect()
    }

    /// Writes the result rows as CSV, atomically.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path("bsnn::Search::write_csv", path.as_ref())?;
        check(unsafe { sys::bsnn_search_write_csv(self.raw.as_ptr(), path.as_ptr()) })
    }
}

fn tmpl(template: Option<&SchedulerRef>) -> *const sys::bsnn_scheduler {
    template.map_or(ptr::null(), |s| s.as_ptr())
}
