//! Tells the linker where libbsnn is. Two ways, in this order:
//!
//! 1. `BSNN_LIB_DIR`: a directory holding `libbsnn.so` (the source tree's
//!    `lib/` after `make lib`; `make test-rust` sets it). Nothing else is
//!    consulted.
//! 2. The `pkg-config` program (or the one `PKG_CONFIG` names) asked for
//!    `bsnn`'s link flags, so `PKG_CONFIG_PATH`, `PKG_CONFIG_LIBDIR` and
//!    `PKG_CONFIG_SYSROOT_DIR` work as they do for a C build.
//!
//! The program is run directly rather than through the `pkg-config` crate:
//! this crate has no dependencies at all, so it builds offline on any
//! machine with Debian's cargo and needs no registry or vendored sources.
//!
//! Either way the library is linked dynamically; at run time the loader must
//! find `libbsnn.so.MAJOR` (an installed library, or `LD_LIBRARY_PATH`).
use std::env;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

const WATCHED: [&str; 5] =
    ["BSNN_LIB_DIR", "PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"];

fn main() {
    for var in WATCHED {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    println!("cargo:rerun-if-changed=build.rs");
    match env::var_os("BSNN_LIB_DIR") {
        Some(dir) => from_lib_dir(PathBuf::from(dir)),
        None => from_pkg_config(),
    }
}

fn from_lib_dir(dir: PathBuf) {
    if !dir.join("libbsnn.so").exists() {
        panic!(
            "bsnn-sys: BSNN_LIB_DIR={} holds no libbsnn.so (run `make lib` in the bsnn \
             source tree, or unset BSNN_LIB_DIR to use pkg-config)",
            dir.display()
        );
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=bsnn");
    println!("cargo:lib_dir={}", dir.display());
}

fn from_pkg_config() {
    let program = env::var_os("PKG_CONFIG").unwrap_or_else(|| OsString::from("pkg-config"));
    let output = match Command::new(&program).args(["--libs", "bsnn"]).output() {
        Ok(output) => output,
        Err(err) => panic!(
            "bsnn-sys: cannot run {:?} ({}); install pkg-config, or set BSNN_LIB_DIR to the \
             directory holding libbsnn.so",
            program, err
        ),
    };
    if !output.status.success() {
        panic!(
            "bsnn-sys: `{} --libs bsnn` failed: {}\nInstall bsnn (`make install`), point \
             PKG_CONFIG_PATH at the directory holding bsnn.pc, or set BSNN_LIB_DIR to the \
             directory holding libbsnn.so",
            program.to_string_lossy(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let flags = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut linked = false;
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:lib_dir={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={}", lib);
            linked |= lib == "bsnn";
        } else {
            println!("cargo:warning=bsnn-sys: ignoring pkg-config flag {}", flag);
        }
    }
    if !linked {
        panic!("bsnn-sys: `pkg-config --libs bsnn` gave no -lbsnn: {}", flags.trim());
    }
}
