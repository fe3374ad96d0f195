//! The library loaded the way the VM loads it: with dlopen(RTLD_LOCAL), by
//! a process not linked with libpython (the Port transport's launcher,
//! `emqx_exhook_port`). In the test binaries libpython is linked in and its
//! symbols are global anyway; here they are not unless the library makes
//! them so, which C extension modules (sqlite3, ssl, json) need.

use eetf::{Atom, Binary, List, Map, Term, Tuple};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<this test>
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf()
}

fn binary(s: &str) -> Term {
    Term::from(Binary::from(s.as_bytes().to_vec()))
}

fn send(input: &mut impl Write, term: Term) -> std::io::Result<()> {
    let mut frame = Vec::new();
    term.encode(&mut frame).expect("encode");
    input.write_all(&(frame.len() as u32).to_be_bytes())?;
    input.write_all(&frame)?;
    input.flush()
}

fn receive(output: &mut impl Read) -> Term {
    let mut len = [0u8; 4];
    output.read_exact(&mut len).expect("a reply frame");
    let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
    output.read_exact(&mut frame).expect("the frame");
    Term::decode(frame.as_slice()).expect("decode")
}

#[test]
fn c_extension_modules_import_when_loaded_like_the_vm_loads_the_library() {
    let target = target_dir();
    let launcher = target.join("emqx_exhook_port");
    let library = target.join("libemqx_extension_hook_python.so");
    assert!(
        launcher.exists() && library.exists(),
        "{} and {} are built by `cargo build --workspace` (make test-rust does it)",
        launcher.display(),
        library.display()
    );
    let dir = std::env::temp_dir().join(format!("emqx-python-{}-vm-load", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("cext_probe.py"),
        "import sqlite3, ssl, json, hashlib, decimal\n\
         assert sqlite3.connect(':memory:').execute('select 1').fetchone() == (1,)\n\
         assert ssl.create_default_context() is not None and json.loads('[1]') == [1]\n\
         def init():\n    return (0, ([('client_connected', 'cext_probe', 'connected', [])], None))\n\
         def connected(clientinfo, state):\n    pass\n",
    )
    .expect("write probe");
    let mut child = Command::new(&launcher)
        .arg(&library)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("launcher starts");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = child.stdout.take().expect("stdout");
    let settings = vec![
        Term::from(Tuple::from(vec![
            binary("path"),
            binary(&dir.to_string_lossy()),
        ])),
        Term::from(Tuple::from(vec![
            binary("init_module"),
            binary("cext_probe"),
        ])),
    ];
    send(
        &mut input,
        Term::from(Tuple::from(vec![
            Term::from(Atom::from("init")),
            binary("vm_load"),
            Term::from(List::from(settings)),
            Term::from(Map::from(std::collections::HashMap::<Term, Term>::new())),
        ])),
    )
    .expect("init sent");
    let reply = receive(&mut output);
    // After an init_error the launcher has exited already.
    if send(&mut input, Term::from(Atom::from("deinit"))).is_ok() {
        let _ = receive(&mut output);
    }
    drop(input);
    let _ = child.wait();
    let text = reply.to_string();
    assert!(
        text.starts_with("{'init_ok'") || text.starts_with("{init_ok"),
        "{text}"
    );
}
