//! Per-epoch training records, filled by training with a history attached.

use crate::enums::HistField;
use crate::error::{c_path, check, made, Result};
use crate::handle::handle;
use crate::sys;
use std::path::Path;

handle!(
    /// Rows of per-epoch records (epoch, batch size, lr, losses, accuracy,
    /// time, samples, updates).
    History,
    /// A history, owned ([`History`]) or lent during training.
    HistoryRef,
    bsnn_history,
    bsnn_history_free
);

impl History {
    pub fn new() -> Result<History> {
        made(unsafe { sys::bsnn_history_create() }).map(History::from_raw)
    }
}

impl HistoryRef {
    /// Number of rows.
    pub fn len(&self) -> usize {
        unsafe { sys::bsnn_history_size(self.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every row.
    pub fn clear(&mut self) -> Result<()> {
        check(unsafe { sys::bsnn_history_clear(self.as_mut_ptr()) })
    }

    /// Column `field` of row `row` (validation columns are NaN without a
    /// validation set).
    pub fn get(&self, row: usize, field: HistField) -> Result<f64> {
        let mut out = 0.0;
        check(unsafe { sys::bsnn_history_get(&mut out, self.as_ptr(), row, field.raw()) })?;
        Ok(out)
    }

    /// Every row's value of `field`.
    pub fn column(&self, field: HistField) -> Result<Vec<f64>> {
        (0..self.len()).map(|row| self.get(row, field)).collect()
    }

    /// The last row's value of `field`, `None` when there are no rows.
    pub fn last(&self, field: HistField) -> Result<Option<f64>> {
        match self.len() {
            0 => Ok(None),
            n => self.get(n - 1, field).map(Some),
        }
    }

    /// Writes the rows as CSV (header line first), atomically.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path("bsnn::History::write_csv", path.as_ref())?;
        check(unsafe { sys::bsnn_history_write_csv(self.as_ptr(), path.as_ptr()) })
    }
}
