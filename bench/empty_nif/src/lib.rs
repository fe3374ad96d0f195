//! The floor for a NIF call: `emqx_bench_empty:noop/0` returns `ok` and
//! does nothing else. Loaded by `bench/emqx_bench_empty.erl`.
//!
//! rustler 0.39 emits the `nif_init` symbol the VM looks for only when
//! this crate is a primary package of the cargo invocation (it checks
//! `CARGO_PRIMARY_PACKAGE`, or `RUSTLER_PRIMARY_NIF_INIT`):
//! `cargo build --release --workspace` and `cargo build --release -p
//! emqx-bench-empty-nif` both qualify.

mod atoms {
    rustler::atoms! { ok }
}

#[rustler::nif]
fn noop() -> rustler::Atom {
    atoms::ok()
}

rustler::init!("emqx_bench_empty");
