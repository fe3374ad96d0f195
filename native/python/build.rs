//! Links the library so that the broker's VM can hold it for good: an rpath
//! to the libpython it was built against, and `-z nodelete` (an interpreter
//! cannot be finalised and started again, so the library that holds it must
//! never be unmapped). Also records that interpreter's prefix and executable,
//! which the library hands to CPython instead of letting it guess from PATH.

use std::process::Command;

fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
    println!("cargo:rustc-link-arg-cdylib=-Wl,-z,nodelete");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let config = pyo3_build_config::get();
    let python = config
        .executable()
        .map(String::from)
        .expect("pyo3 found no Python executable (set PYO3_PYTHON)");
    let out = Command::new(&python)
        .args([
            "-I",
            "-c",
            "import sys; print(sys.base_prefix); print(sys.executable)",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(out.status.success(), "{python} failed: {:?}", out);
    let text = String::from_utf8(out.stdout).expect("sys.base_prefix is not UTF-8");
    let mut lines = text.lines();
    let (home, executable) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    assert!(!home.is_empty(), "{python} printed no prefix");
    println!("cargo:rustc-env=EMQX_PYTHON_HOME={home}");
    println!("cargo:rustc-env=EMQX_PYTHON_EXECUTABLE={executable}");
}
