//! Safe Rust bindings to libbsnn, which trains and evaluates multilayer
//! perceptrons with any batch size the host chooses.
//!
//! Every object owns its C handle and frees it on drop; every fallible call
//! returns [`Result`] with an [`Error`] carrying the library's [`Status`] and
//! message. Tensors borrow Rust slices without copying, for as long as the
//! borrow checker can prove the slice lives ([`Tensor`], [`TensorView`]).
//! Training calls a closure after each update and epoch ([`Fit::on_event`]).
//! The C header `include/bsnn.h` is the manual for what each call does; the
//! raw declarations are in [`sys`].
//!
//! ```
//! use bsnn::{Activation, Dataset, Loss, Model, OptParam, Optimizer, OptimizerKind, Scheduler};
//!
//! // 3-bit parity, all 8 rows: a 3-8-1 tanh net on logits.
//! let data = Dataset::parity(3)?;
//! let mut model = Model::builder(3)
//!     .dense(8)
//!     .activation(Activation::Tanh)
//!     .dense(1)
//!     .loss(Loss::BceLogits)
//!     .seed(1)
//!     .build()?;
//! let mut opt = Optimizer::new(OptimizerKind::Adam)?.with(OptParam::Lr, 0.05)?;
//! let mut sched = Scheduler::new(data.len())?;
//! sched.set_batch_size(4)?;
//! let updates = model.fit(&mut opt, &mut sched, &data, 300).run()?;
//! assert_eq!(updates, 600);
//! assert_eq!(model.evaluate(&data, 8)?.accuracy, 1.0);
//! # Ok::<(), bsnn::Error>(())
//! ```

pub use bsnn_sys as sys;

mod checkpoint;
mod dataset;
mod enums;
mod error;
mod handle;
mod history;
mod layer;
mod model;
mod optimizer;
mod scheduler;
mod search;
mod tensor;
mod train;

pub use checkpoint::Checkpoint;
pub use dataset::{CsvHeader, Dataset, DatasetRef, DatasetView};
pub use enums::*;
pub use error::{last_error, Error, Result, Status};
pub use history::{History, HistoryRef};
pub use layer::{Bounds, Layer, LayerRef};
pub use model::{Evaluation, Model, ModelBuilder, ModelRef, Workspace};
pub use optimizer::{Optimizer, OptimizerRef};
pub use scheduler::{Batch, Scheduler, SchedulerRef};
pub use search::{Search, SearchRow};
pub use tensor::{Input, Tensor, TensorView};
pub use train::{Event, Fit, Progress};

use std::ffi::CStr;

/// The linked library's version as (major, minor, patch).
pub fn version() -> (u32, u32, u32) {
    let v = unsafe { sys::bsnn_version() };
    (v / 10000, v / 100 % 100, v % 100)
}

/// The linked library's version, "MAJOR.MINOR.PATCH".
pub fn version_string() -> String {
    unsafe { CStr::from_ptr(sys::bsnn_version_string()) }.to_string_lossy().into_owned()
}

/// Whether the linked library can serve this crate: the same major version
/// as the header the crate was written against, and no older minor. The
/// symbol versions already refuse a library lacking a function at load
/// time; this names the mismatch.
pub fn check_version() -> Result<()> {
    let (major, minor, patch) = version();
    if major != sys::BSNN_VERSION_MAJOR || minor < sys::BSNN_VERSION_MINOR {
        return Err(Error::new(
            Status::Unsupported,
            format!(
                "bsnn::check_version: library {}.{}.{} cannot serve a crate written for {}.{}.x",
                major,
                minor,
                patch,
                sys::BSNN_VERSION_MAJOR,
                sys::BSNN_VERSION_MINOR
            ),
        ));
    }
    Ok(())
}

/// Threads the GEMM kernels may use (1..=256); results are bit-identical for
/// every count. Process-wide: call it before training starts elsewhere.
pub fn set_num_threads(n: usize) -> Result<()> {
    let n = n.min(std::os::raw::c_int::MAX as usize) as std::os::raw::c_int;
    error::check(unsafe { sys::bsnn_set_num_threads(n) })
}

pub fn num_threads() -> usize {
    unsafe { sys::bsnn_get_num_threads() as usize }
}

/// The README's example runs as a doc test, so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
