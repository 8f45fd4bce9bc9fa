//! The crate links and calls into the library it found.
use bsnn_sys::*;
use std::ffi::CStr;

#[test]
fn the_linked_library_is_the_major_version_declared_here() {
    let v = unsafe { bsnn_version() };
    assert_eq!(v / 10000, BSNN_VERSION_MAJOR, "library {} vs crate {}", v, BSNN_VERSION_NUMBER);
    assert!(
        v >= BSNN_VERSION_NUMBER,
        "library {} is older than the crate's header {}",
        v,
        BSNN_VERSION_NUMBER
    );
    let s = unsafe { CStr::from_ptr(bsnn_version_string()) }.to_str().unwrap();
    let parts: Vec<u32> = s.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0] * 10000 + parts[1] * 100 + parts[2], v);
}

#[test]
fn a_failed_call_reports_status_and_message() {
    let m = unsafe { bsnn_model_create(0) };
    assert!(m.is_null());
    let msg = unsafe { CStr::from_ptr(bsnn_last_error()) }.to_string_lossy().into_owned();
    assert!(msg.contains("bsnn_model_create"), "{}", msg);
    let st = unsafe { bsnn_model_set_loss(std::ptr::null_mut(), BSNN_LOSS_MSE) };
    assert_eq!(st, BSNN_E_NULL);
    let text = unsafe { CStr::from_ptr(bsnn_status_string(BSNN_E_NOMEM)) };
    assert_eq!(text.to_str().unwrap(), "out of memory");
}
