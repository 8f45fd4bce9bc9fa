//! Errors: the library's status code plus its message, and the checks that
//! turn a C status or a NULL constructor result into a `Result`.

use crate::sys;
use std::ffi::{CStr, CString};
use std::fmt;
use std::path::Path;

/// What went wrong, as the library's status codes (`bsnn_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// A required pointer or handle was NULL (`BSNN_E_NULL`); the safe
    /// interface passes none, so this comes only through `sys`.
    Null,
    /// An argument is out of range or not finite (`BSNN_E_ARG`).
    Arg,
    /// Shapes or sizes do not agree (`BSNN_E_SHAPE`).
    Shape,
    /// Allocation failed; every object is still valid (`BSNN_E_NOMEM`).
    NoMem,
    /// The call is not allowed in the object's current state (`BSNN_E_STATE`).
    State,
    /// A file could not be read or written (`BSNN_E_IO`).
    Io,
    /// A file or buffer is malformed or unsupported (`BSNN_E_FORMAT`).
    Format,
    /// Loss or gradient became NaN or infinite (`BSNN_E_DIVERGED`).
    Diverged,
    /// Not available in this build (`BSNN_E_UNSUPPORTED`).
    Unsupported,
    /// A host hook asked to abandon the step (`BSNN_E_CALLBACK`).
    Callback,
    /// A constructor or loader returned NULL: the C API gives no status
    /// there, only the message (bad arguments, a bad file, out of memory).
    Failed,
    /// A status code this crate does not know (a newer library).
    Other(i32),
}

impl Status {
    /// The status of a C code; `None` for `BSNN_OK`.
    pub fn from_raw(code: sys::bsnn_status) -> Option<Status> {
        Some(match code {
            sys::BSNN_OK => return None,
            sys::BSNN_E_NULL => Status::Null,
            sys::BSNN_E_ARG => Status::Arg,
            sys::BSNN_E_SHAPE => Status::Shape,
            sys::BSNN_E_NOMEM => Status::NoMem,
            sys::BSNN_E_STATE => Status::State,
            sys::BSNN_E_IO => Status::Io,
            sys::BSNN_E_FORMAT => Status::Format,
            sys::BSNN_E_DIVERGED => Status::Diverged,
            sys::BSNN_E_UNSUPPORTED => Status::Unsupported,
            sys::BSNN_E_CALLBACK => Status::Callback,
            other => Status::Other(other),
        })
    }

    /// The library's short description ("out of memory").
    pub fn description(self) -> String {
        let code = match self {
            Status::Null => sys::BSNN_E_NULL,
            Status::Arg => sys::BSNN_E_ARG,
            Status::Shape => sys::BSNN_E_SHAPE,
            Status::NoMem => sys::BSNN_E_NOMEM,
            Status::State => sys::BSNN_E_STATE,
            Status::Io => sys::BSNN_E_IO,
            Status::Format => sys::BSNN_E_FORMAT,
            Status::Diverged => sys::BSNN_E_DIVERGED,
            Status::Unsupported => sys::BSNN_E_UNSUPPORTED,
            Status::Callback => sys::BSNN_E_CALLBACK,
            Status::Failed => return "failed".to_string(),
            Status::Other(code) => code,
        };
        // SAFETY: bsnn_status_string never fails and returns a static string.
        unsafe { CStr::from_ptr(sys::bsnn_status_string(code)) }.to_string_lossy().into_owned()
    }
}

/// An error: the status and the library's message, which names the C
/// function, the argument and the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    /// An error made on the Rust side (a check the C API cannot do, such as
    /// a slice shorter than its shape says).
    pub(crate) fn new(status: Status, message: String) -> Error {
        Error { status, message }
    }

    /// The error the library just recorded on this thread.
    pub(crate) fn last(status: Status) -> Error {
        Error { status, message: last_error() }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The message (`bsnn_last_error()` at the time of the failure).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.status.description())
        } else {
            write!(f, "{} ({})", self.message, self.status.description())
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// The message of the last failure on this thread ("" before any).
pub fn last_error() -> String {
    // SAFETY: never NULL; valid for the life of the thread, copied at once.
    unsafe { CStr::from_ptr(sys::bsnn_last_error()) }.to_string_lossy().into_owned()
}

/// `Ok` for BSNN_OK, else the error with the library's message.
pub(crate) fn check(code: sys::bsnn_status) -> Result<()> {
    match Status::from_raw(code) {
        None => Ok(()),
        Some(status) => Err(Error::last(status)),
    }
}

/// The non-NULL result of a constructor, or its message as an error.
pub(crate) fn made<T>(ptr: *mut T) -> Result<std::ptr::NonNull<T>> {
    std::ptr::NonNull::new(ptr).ok_or_else(|| Error::last(Status::Failed))
}

/// A path as a C string: UTF-8 or not, but without NUL bytes.
pub(crate) fn c_path(who: &str, path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new(Status::Arg, format!("{}: path {:?} contains a NUL byte", who, path)))
}

/// A Rust-side shape error naming the function.
pub(crate) fn shape_error<T>(who: &str, what: String) -> Result<T> {
    Err(Error::new(Status::Shape, format!("{}: {}", who, what)))
}
