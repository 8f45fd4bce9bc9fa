//! Tensors: float32 arrays of rank 1 to 4, row-major, dimension 0 the batch.
//!
//! [`Tensor`] is writable: owned by the library ([`Tensor::zeros`]) or
//! borrowing a `&mut [f32]` ([`Tensor::wrap`]). [`TensorView`] borrows a
//! `&[f32]` and can only be read, so the library never writes into memory
//! Rust lent as shared. A borrowed slice stays borrowed for as long as the
//! tensor lives: the lifetime `'a` is the slice's, and the borrow checker
//! refuses to drop or change the slice before the tensor.
//!
//! ```compile_fail,E0597
//! let t = {
//!     let mut data = vec![0.0f32; 4];
//!     bsnn::Tensor::wrap(&mut data, &[2, 2]).unwrap()
//! }; // `data` does not live long enough
//! # drop(t);
//! ```
//!
//! ```compile_fail,E0505
//! let data = vec![1.0f32; 4];
//! let view = bsnn::TensorView::new(&data, &[2, 2]).unwrap();
//! drop(data); // cannot move out of `data` because it is borrowed
//! # drop(view);
//! ```

use crate::error::{made, shape_error, Result};
use crate::sys;
use std::marker::PhantomData;
use std::os::raw::c_int;
use std::ptr::NonNull;

/// Elements of `shape`, checked against the library's rank limit and
/// overflow, so a wrapped slice can be compared with it.
fn element_count(who: &str, shape: &[usize]) -> Result<usize> {
    if shape.is_empty() || shape.len() > sys::BSNN_MAX_RANK as usize {
        return shape_error(who, format!("rank {} is not in 1..{}", shape.len(), sys::BSNN_MAX_RANK));
    }
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .map_or_else(|| shape_error(who, format!("shape {:?} overflows", shape)), Ok)
}

fn wrap_raw(who: &str, data: *mut f32, len: usize, shape: &[usize]) -> Result<NonNull<sys::bsnn_tensor>> {
    let count = element_count(who, shape)?;
    if count != len {
        return shape_error(who, format!("slice has {} floats, shape {:?} needs {}", len, shape, count));
    }
    // SAFETY: data holds count floats; the caller keeps them alive and
    // decides whether the library may write (Tensor) or not (TensorView).
    made(unsafe { sys::bsnn_tensor_wrap(data, shape.len() as c_int, shape.as_ptr()) })
}

fn shape_of(raw: *const sys::bsnn_tensor) -> Vec<usize> {
    // SAFETY: raw is a live tensor.
    let rank = unsafe { sys::bsnn_tensor_rank(raw) };
    (0..rank).map(|d| unsafe { sys::bsnn_tensor_dim(raw, d) }).collect()
}

/// A writable tensor, owned or borrowing `&'a mut [f32]`.
pub struct Tensor<'a> {
    raw: NonNull<sys::bsnn_tensor>,
    _data: PhantomData<&'a mut [f32]>,
}

impl Tensor<'static> {
    /// A zero-filled tensor owned by the library (64-byte aligned).
    pub fn zeros(shape: &[usize]) -> Result<Tensor<'static>> {
        element_count("bsnn::Tensor::zeros", shape)?;
        // SAFETY: shape has 1..=4 elements.
        let raw = made(unsafe { sys::bsnn_tensor_create(shape.len() as c_int, shape.as_ptr()) })?;
        Ok(Tensor { raw, _data: PhantomData })
    }
}

impl<'a> Tensor<'a> {
    /// A tensor over the caller's slice, without a copy: the library reads
    /// and writes `data` itself. `data.len()` must equal the shape's product
    /// (an error of status `Shape` otherwise).
    pub fn wrap(data: &'a mut [f32], shape: &[usize]) -> Result<Tensor<'a>> {
        let raw = wrap_raw("bsnn::Tensor::wrap", data.as_mut_ptr(), data.len(), shape)?;
        Ok(Tensor { raw, _data: PhantomData })
    }

    pub fn shape(&self) -> Vec<usize> {
        shape_of(self.raw.as_ptr())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        // SAFETY: live tensor.
        unsafe { sys::bsnn_tensor_size(self.raw.as_ptr()) }
    }

    /// Always false: every dimension is at least 1.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> &[f32] {
        // SAFETY: the data pointer holds len() floats for the tensor's life.
        unsafe { std::slice::from_raw_parts(sys::bsnn_tensor_data(self.raw.as_ptr()), self.len()) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as as_slice; &mut self excludes other views.
        unsafe { std::slice::from_raw_parts_mut(sys::bsnn_tensor_data(self.raw.as_ptr()), self.len()) }
    }

    pub fn fill(&mut self, value: f32) {
        // SAFETY: live tensor; bsnn_tensor_fill fails only on NULL.
        unsafe { sys::bsnn_tensor_fill(self.raw.as_ptr(), value) };
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut sys::bsnn_tensor {
        self.raw.as_ptr()
    }
}

impl Drop for Tensor<'_> {
    fn drop(&mut self) {
        // SAFETY: owned handle; a wrapped slice is not freed by the library.
        unsafe { sys::bsnn_tensor_free(self.raw.as_ptr()) }
    }
}

/// A read-only tensor over `&'a [f32]`, for inputs and targets.
pub struct TensorView<'a> {
    raw: NonNull<sys::bsnn_tensor>,
    data: &'a [f32],
}

impl<'a> TensorView<'a> {
    /// A view of the caller's slice, without a copy; `data.len()` must equal
    /// the shape's product.
    pub fn new(data: &'a [f32], shape: &[usize]) -> Result<TensorView<'a>> {
        let raw = wrap_raw("bsnn::TensorView::new", data.as_ptr() as *mut f32, data.len(), shape)?;
        Ok(TensorView { raw, data })
    }

    pub fn shape(&self) -> Vec<usize> {
        shape_of(self.raw.as_ptr())
    }

    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
}

impl Drop for TensorView<'_> {
    fn drop(&mut self) {
        // SAFETY: frees the handle only; the slice is the caller's.
        unsafe { sys::bsnn_tensor_free(self.raw.as_ptr()) }
    }
}

// SAFETY: no thread affinity; shared access only reads (the library takes
// inputs as const tensors and writes only through `&mut Tensor`).
unsafe impl Send for Tensor<'_> {}
unsafe impl Sync for Tensor<'_> {}
unsafe impl Send for TensorView<'_> {}
unsafe impl Sync for TensorView<'_> {}

/// What the library reads as an input or target: a [`Tensor`] or a
/// [`TensorView`].
pub trait Input: private::Sealed {
    #[doc(hidden)]
    fn as_input_ptr(&self) -> *const sys::bsnn_tensor;
}

impl Input for Tensor<'_> {
    fn as_input_ptr(&self) -> *const sys::bsnn_tensor {
        self.raw.as_ptr()
    }
}

impl Input for TensorView<'_> {
    fn as_input_ptr(&self) -> *const sys::bsnn_tensor {
        self.raw.as_ptr()
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Tensor<'_> {}
    impl Sealed for super::TensorView<'_> {}
}
