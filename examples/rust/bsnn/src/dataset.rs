//! Datasets: rows of inputs with their targets, copied into the library
//! from slices, generated, or read from CSV and IDX files.

use crate::enums::{Features, Playground};
use crate::error::{c_path, check, made, shape_error, Result};
use crate::sys;
use std::os::raw::c_int;
use std::path::Path;
use std::ptr::{self, NonNull};

/// Whether the first line of a CSV file is a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvHeader {
    Yes,
    No,
    /// A header when any of its fields is not a number.
    Detect,
}

/// Inputs `[n][n_inputs]` and targets `[n][n_targets]`, row-major.
pub struct Dataset {
    raw: NonNull<sys::bsnn_dataset>,
}

// SAFETY: no thread affinity; &self methods only read.
unsafe impl Send for Dataset {}
unsafe impl Sync for Dataset {}

impl Drop for Dataset {
    fn drop(&mut self) {
        unsafe { sys::bsnn_dataset_free(self.raw.as_ptr()) }
    }
}

fn made_ds(ptr: *mut sys::bsnn_dataset) -> Result<Dataset> {
    made(ptr).map(|raw| Dataset { raw })
}

/// Two datasets returned through out-pointers, freed if only one came back.
fn pair(
    f: impl FnOnce(*mut *mut sys::bsnn_dataset, *mut *mut sys::bsnn_dataset) -> sys::bsnn_status,
) -> Result<(Dataset, Dataset)> {
    let (mut a, mut b) = (ptr::null_mut(), ptr::null_mut());
    check(f(&mut a, &mut b))?;
    // Wrap both before failing, so neither leaks.
    let (a, b) = (made_ds(a), made_ds(b));
    Ok((a?, b?))
}

impl Dataset {
    /// A copy of `x` (`n * n_inputs` floats) and `y` (`n * n_targets`);
    /// `n` follows from the lengths, which must agree.
    pub fn new(x: &[f32], y: &[f32], n_inputs: usize, n_targets: usize) -> Result<Dataset> {
        let who = "bsnn::Dataset::new";
        if n_inputs == 0 || n_targets == 0 {
            return shape_error(who, format!("{} inputs and {} targets per row", n_inputs, n_targets));
        }
        let n = x.len() / n_inputs;
        if x.len() != n * n_inputs || y.len() != n * n_targets {
            return shape_error(
                who,
                format!(
                    "{} input floats and {} target floats do not make whole rows of {} + {}",
                    x.len(),
                    y.len(),
                    n_inputs,
                    n_targets
                ),
            );
        }
        // SAFETY: the slices hold n rows; the library copies them.
        made_ds(unsafe { sys::bsnn_dataset_create(x.as_ptr(), y.as_ptr(), n, n_inputs, n_targets) })
    }

    /// All `2^bits` rows of the n-bit parity problem, in counting order.
    pub fn parity(bits: u32) -> Result<Dataset> {
        made_ds(unsafe { sys::bsnn_dataset_parity(bits.min(c_int::MAX as u32) as c_int) })
    }

    /// `n` points of a Playground set; `labels_01` gives classes 1/0 instead
    /// of +1/-1.
    pub fn playground(set: Playground, n: usize, noise: f64, seed: u64, labels_01: bool) -> Result<Dataset> {
        let flags = if labels_01 { sys::BSNN_PG_LABELS_01 } else { 0 };
        made_ds(unsafe { sys::bsnn_dataset_playground(set.raw(), n, noise, seed, flags) })
    }

    /// The 1-D toy of the batch-size study: (6 training, 2 test) points.
    pub fn toy1d() -> Result<(Dataset, Dataset)> {
        pair(|a, b| unsafe { sys::bsnn_dataset_toy1d(a, b) })
    }

    /// Reads a CSV file of numbers; `target_cols` (0-based) become the
    /// targets, every other column an input.
    pub fn load_csv(path: impl AsRef<Path>, header: CsvHeader, target_cols: &[usize]) -> Result<Dataset> {
        let path = c_path("bsnn::Dataset::load_csv", path.as_ref())?;
        let header = match header {
            CsvHeader::Yes => 1,
            CsvHeader::No => 0,
            CsvHeader::Detect => -1,
        };
        made_ds(unsafe {
            sys::bsnn_dataset_load_csv(path.as_ptr(), header, target_cols.as_ptr(), target_cols.len())
        })
    }

    /// Reads an uncompressed MNIST-style IDX pair (images scaled to [0, 1]
    /// when bytes; labels as one column of class indices); `max_rows` keeps
    /// only the first rows.
    pub fn load_idx(
        images: impl AsRef<Path>,
        labels: impl AsRef<Path>,
        max_rows: Option<usize>,
    ) -> Result<Dataset> {
        let images = c_path("bsnn::Dataset::load_idx", images.as_ref())?;
        let labels = c_path("bsnn::Dataset::load_idx", labels.as_ref())?;
        made_ds(unsafe {
            sys::bsnn_dataset_load_idx(images.as_ptr(), labels.as_ptr(), max_rows.unwrap_or(0))
        })
    }

    /// A random `fraction` of the rows (from `seed`) and the rest.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        pair(|a, b| unsafe { sys::bsnn_dataset_split(a, b, self.raw.as_ptr(), fraction, seed) })
    }

    /// A new dataset of Playground features computed from a 2-input one.
    pub fn features(&self, mask: Features) -> Result<Dataset> {
        made_ds(unsafe { sys::bsnn_dataset_features(self.raw.as_ptr(), mask.0) })
    }

    /// The same inputs with one-hot targets from a column of class indices.
    pub fn one_hot(&self, n_classes: usize) -> Result<Dataset> {
        made_ds(unsafe { sys::bsnn_dataset_one_hot(self.raw.as_ptr(), n_classes) })
    }

    /// Per-input-column mean and (population) standard deviation.
    pub fn input_stats(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let n = self.n_inputs();
        let (mut mean, mut std) = (vec![0.0; n], vec![0.0; n]);
        check(unsafe {
            sys::bsnn_dataset_input_stats(mean.as_mut_ptr(), std.as_mut_ptr(), n, self.raw.as_ptr())
        })?;
        Ok((mean, std))
    }

    /// Standardises the inputs in place, `(x - mean) / std` per column.
    pub fn standardize(&mut self, mean: &[f32], std: &[f32]) -> Result<()> {
        if mean.len() != std.len() {
            return shape_error(
                "bsnn::Dataset::standardize",
                format!("{} means but {} standard deviations", mean.len(), std.len()),
            );
        }
        check(unsafe {
            sys::bsnn_dataset_standardize(self.raw.as_ptr(), mean.as_ptr(), std.as_ptr(), mean.len())
        })
    }

    /// Number of rows (never 0).
    pub fn len(&self) -> usize {
        unsafe { sys::bsnn_dataset_size(self.raw.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn n_inputs(&self) -> usize {
        unsafe { sys::bsnn_dataset_n_inputs(self.raw.as_ptr()) }
    }

    pub fn n_targets(&self) -> usize {
        unsafe { sys::bsnn_dataset_n_targets(self.raw.as_ptr()) }
    }

    /// The inputs, row-major `[len][n_inputs]`.
    pub fn inputs(&self) -> &[f32] {
        // SAFETY: valid until the dataset is freed, which &self prevents.
        unsafe {
            std::slice::from_raw_parts(
                sys::bsnn_dataset_inputs(self.raw.as_ptr()),
                self.len() * self.n_inputs(),
            )
        }
    }

    /// The targets, row-major `[len][n_targets]`.
    pub fn targets(&self) -> &[f32] {
        unsafe {
            std::slice::from_raw_parts(
                sys::bsnn_dataset_targets(self.raw.as_ptr()),
                self.len() * self.n_targets(),
            )
        }
    }

    /// The C handle, still owned by `self`.
    pub fn as_ptr(&self) -> *const sys::bsnn_dataset {
        self.raw.as_ptr()
    }
}
