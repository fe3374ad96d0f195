//! Per-call cost of the python3 driver's handler, called as the SDK's pool
//! calls it (one caller, a thread with an 8 MiB stack):
//!
//! `cargo bench -p emqx-extension-python --bench percall`
//!
//! Prints p50/p99 and calls/s for client.authenticate on a minimal handler
//! (the raw call convention, no decorators), on the article's CustomHook
//! (PyPI SDK 0.2 unchanged, from _build/pyvenv: scripts/python-venv.sh),
//! and what attaching a thread to Python costs with and without the
//! thread state this library keeps per worker. Log records are formatted
//! (as the broker's logger will), then dropped.

use emqx_extension_hook_python::PythonHandler;
use emqx_extension_sdk::{AuthResult, ClientInfo, Config, Context, Handler, Hook};
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct FormatAndDrop;

impl log::Log for FormatAndDrop {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        std::hint::black_box(record.args().to_string());
    }
    fn flush(&self) {}
}

fn report(name: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<58} p50 {:>6.2} us  p99 {:>6.2} us  {:>8.0} calls/s",
        at(0.5),
        at(0.99),
        samples.len() as f64 / total.as_secs_f64()
    );
}

fn measure(name: &str, calls: usize, mut call: impl FnMut()) {
    for _ in 0..calls / 10 {
        call();
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        call();
        samples.push(t.elapsed());
    }
    report(name, samples, started.elapsed());
}

fn on_pool_thread(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn_scoped(s, f)
            .expect("thread")
            .join()
            .expect("bench thread");
    });
}

fn driver(name: &str, dir: &Path, module: &str, venv: Option<&Path>) -> PythonHandler {
    let mut settings = vec![
        ("path".to_string(), dir.to_string_lossy().into_owned()),
        ("init_module".to_string(), module.to_string()),
    ];
    if let Some(venv) = venv {
        settings.push(("venv".into(), venv.to_string_lossy().into_owned()));
    }
    PythonHandler::init(&Config::new(name, settings)).expect("driver starts")
}

fn authenticate(h: &PythonHandler, client: &ClientInfo) {
    let so_far = AuthResult {
        success: true,
        anonymous: true,
    };
    let ctx = Context::new(
        Hook::ClientAuthenticate,
        "bench",
        Instant::now() + Duration::from_secs(5),
    );
    std::hint::black_box(h.on_client_authenticate(client, so_far, &ctx));
}

fn main() {
    log::set_logger(&FormatAndDrop).expect("logger");
    log::set_max_level(log::LevelFilter::Info);
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("emqx-python-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("minimal.py"),
        "def init():\n    return (0, ([('client_authenticate', 'minimal', 'auth', [])], None))\n\
         def auth(clientinfo, so_far, state):\n    return (0, True)\n",
    )
    .expect("write");
    let client = ClientInfo::builder()
        .clientid("bench-client-1")
        .username("user")
        .password(b"secret")
        .build();
    let minimal = driver("minimal", &dir, "minimal", None);
    on_pool_thread(|| {
        measure("authenticate, minimal handler (no SDK)", 200_000, || {
            authenticate(&minimal, &client)
        })
    });

    let venv = manifest.join("../../_build/pyvenv");
    if venv
        .join("lib/python3.11/site-packages/emqx_extension")
        .is_dir()
    {
        let fixtures = manifest.join("tests/fixtures/custom_hook");
        let custom = driver(
            "custom",
            &fixtures,
            "hooks",
            Some(&venv.canonicalize().expect("venv")),
        );
        on_pool_thread(|| {
            measure(
                "authenticate, the article's CustomHook (PyPI SDK, print)",
                100_000,
                || authenticate(&custom, &client),
            )
        });
    } else {
        println!("(no _build/pyvenv: run scripts/python-venv.sh for the CustomHook row)");
    }

    // Attaching a thread: a new thread state per call (what pyo3's attach
    // does on a thread that keeps none) against the state kept per worker.
    on_pool_thread(|| {
        measure("attach, a new thread state per call", 20_000, || {
            Python::attach(|py| {
                std::hint::black_box(py);
            })
        })
    });
    on_pool_thread(|| {
        // SAFETY: the interpreter runs; the thread keeps a state of its own
        // (count one, GIL released), as the library's workers do.
        unsafe {
            pyo3::ffi::PyGILState_Ensure();
            pyo3::ffi::PyEval_SaveThread();
        }
        measure(
            "attach, the thread state kept by the worker",
            200_000,
            || {
                Python::attach(|py| {
                    std::hint::black_box(py);
                })
            },
        );
    });
}
