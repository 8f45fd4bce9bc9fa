//! Datasets: rows of inputs with their targets, copied into the library
//! from slices ([`Dataset::new`]) or borrowing them ([`Dataset::wrap`]),
//! generated, or read from CSV and IDX files.
//!
//! A borrowed dataset keeps its slices borrowed while it lives, and is
//! read-only (the library refuses to standardise borrowed rows, and the
//! view offers no `&mut`):
//!
//! ```compile_fail,E0505
//! let x = vec![0.0f32, 1.0];
//! let y = vec![1.0f32];
//! let ds = bsnn::Dataset::wrap(&x, &y, 2, 1).unwrap();
//! drop(x); // cannot move out of `x` because it is borrowed
//! # drop(ds);
//! ```
//!
//! ```compile_fail,E0596
//! let (x, y) = (vec![0.0f32, 1.0], vec![1.0f32]);
//! let ds = bsnn::Dataset::wrap(&x, &y, 2, 1).unwrap();
//! ds.standardize(&[0.0, 0.0], &[1.0, 1.0]).unwrap(); // cannot borrow as mutable
//! ```

use crate::enums::{Features, Playground};
use crate::error::{c_path, check, made, shape_error, Result};
use crate::handle::handle;
use crate::sys;
use std::marker::PhantomData;
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

handle!(
    /// Inputs `[n][n_inputs]` and targets `[n][n_targets]`, row-major, owned
    /// by the library.
    Dataset,
    /// A dataset, owned ([`Dataset`]) or borrowing slices ([`DatasetView`]):
    /// every function that reads a dataset takes `&DatasetRef`.
    DatasetRef,
    bsnn_dataset,
    bsnn_dataset_free
);

// SAFETY: &self methods only read (const C functions).
unsafe impl Sync for Dataset {}
unsafe impl Sync for DatasetRef {}

/// A dataset borrowing the caller's slices for `'a`, without a copy
/// (`bsnn_dataset_wrap`); read-only.
pub struct DatasetView<'a> {
    raw: NonNull<sys::bsnn_dataset>,
    _data: PhantomData<&'a [f32]>,
}

impl std::ops::Deref for DatasetView<'_> {
    type Target = DatasetRef;
    fn deref(&self) -> &DatasetRef {
        // SAFETY: valid while the view lives; shared only (no DerefMut).
        unsafe { DatasetRef::from_ptr(self.raw.as_ptr()) }
    }
}

impl Drop for DatasetView<'_> {
    fn drop(&mut self) {
        // SAFETY: frees the handle only; the slices stay the caller's.
        unsafe { sys::bsnn_dataset_free(self.raw.as_ptr()) }
    }
}

// SAFETY: as Dataset; the borrowed slices are f32, Send and Sync.
unsafe impl Send for DatasetView<'_> {}
unsafe impl Sync for DatasetView<'_> {}

fn made_ds(ptr: *mut sys::bsnn_dataset) -> Result<Dataset> {
    made(ptr).map(Dataset::from_raw)
}

/// Rows in `x` and `y` for the row widths, or a shape error naming `who`.
fn rows_of(who: &str, x: &[f32], y: &[f32], n_inputs: usize, n_targets: usize) -> Result<usize> {
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
    Ok(n)
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
        let n = rows_of("bsnn::Dataset::new", x, y, n_inputs, n_targets)?;
        // SAFETY: the slices hold n rows; the library copies them.
        made_ds(unsafe { sys::bsnn_dataset_create(x.as_ptr(), y.as_ptr(), n, n_inputs, n_targets) })
    }

    /// The same rows without a copy: the dataset borrows `x` and `y` for as
    /// long as it lives (the library never writes or frees them).
    pub fn wrap<'a>(
        x: &'a [f32],
        y: &'a [f32],
        n_inputs: usize,
        n_targets: usize,
    ) -> Result<DatasetView<'a>> {
        let n = rows_of("bsnn::Dataset::wrap", x, y, n_inputs, n_targets)?;
        // SAFETY: the slices hold n rows and outlive the view ('a).
        let raw = made(unsafe { sys::bsnn_dataset_wrap(x.as_ptr(), y.as_ptr(), n, n_inputs, n_targets) })?;
        Ok(DatasetView { raw, _data: PhantomData })
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
}

impl DatasetRef {
    /// A random `fraction` of the rows (from `seed`) and the rest.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        pair(|a, b| unsafe { sys::bsnn_dataset_split(a, b, self.as_ptr(), fraction, seed) })
    }

    /// A new dataset of Playground features computed from a 2-input one.
    pub fn features(&self, mask: Features) -> Result<Dataset> {
        made_ds(unsafe { sys::bsnn_dataset_features(self.as_ptr(), mask.0) })
    }

    /// The same inputs with one-hot targets from a column of class indices.
    pub fn one_hot(&self, n_classes: usize) -> Result<Dataset> {
        made_ds(unsafe { sys::bsnn_dataset_one_hot(self.as_ptr(), n_classes) })
    }

    /// Per-input-column mean and (population) standard deviation.
    pub fn input_stats(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let n = self.n_inputs();
        let (mut mean, mut std) = (vec![0.0; n], vec![0.0; n]);
        check(unsafe {
            sys::bsnn_dataset_input_stats(mean.as_mut_ptr(), std.as_mut_ptr(), n, self.as_ptr())
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
            sys::bsnn_dataset_standardize(self.as_mut_ptr(), mean.as_ptr(), std.as_ptr(), mean.len())
        })
    }

    /// Number of rows (never 0).
    pub fn len(&self) -> usize {
        unsafe { sys::bsnn_dataset_size(self.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn n_inputs(&self) -> usize {
        unsafe { sys::bsnn_dataset_n_inputs(self.as_ptr()) }
    }

    pub fn n_targets(&self) -> usize {
        unsafe { sys::bsnn_dataset_n_targets(self.as_ptr()) }
    }

    /// The inputs, row-major `[len][n_inputs]`.
    pub fn inputs(&self) -> &[f32] {
        // SAFETY: valid until the dataset is freed, which &self prevents.
        unsafe {
            std::slice::from_raw_parts(sys::bsnn_dataset_inputs(self.as_ptr()), self.len() * self.n_inputs())
        }
    }

    /// The targets, row-major `[len][n_targets]`.
    pub fn targets(&self) -> &[f32] {
        unsafe {
            std::slice::from_raw_parts(
                sys::bsnn_dataset_targets(self.as_ptr()),
                self.len() * self.n_targets(),
            )
        }
    }
}
