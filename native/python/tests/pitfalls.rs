//! What goes wrong when CPython runs inside the broker's VM, and what the
//! library does about it, each shown on a driver called as the SDK's pool
//! calls it. The process is first made to look like the VM (SIGCHLD
//! ignored, a SIGTERM handler of its own): see `common::setup`.

mod common;

use common::*;
use emqx_extension_hook_python::PythonHandler;
use emqx_extension_sdk::testing::{self, Login, TestBroker};
use emqx_extension_sdk::Hook;

/// The handler let the client in.
const ALLOWED: Login = Login::Allowed { superuser: false };

/// A driver whose `on_client_authenticate` runs `body` (an indented block).
fn auth_driver(name: &str, body: &str) -> TestBroker<PythonHandler> {
    driver(
        name,
        &format!("auth_{name}"),
        &format!(
            "import sys, os, signal, subprocess, threading, time, logging\n\
             def init():\n    return (0, ([('client_authenticate', 'auth_{name}', 'authenticate', [])], None))\n\
             def authenticate(clientinfo, so_far, state):\n{body}\n"
        ),
    )
}

fn authenticate(h: &TestBroker<PythonHandler>, clientid: &str) -> Login {
    on_pool_thread(|| h.authenticate(&client(clientid, None)))
}

/// Why the login of `clientid` got the failure policy, None if it was decided.
fn auth_failure(h: &TestBroker<PythonHandler>, clientid: &str) -> Option<String> {
    failed(h, |b| b.authenticate(&client(clientid, None)))
}

#[test]
fn print_and_stderr_reach_the_log_line_by_line_at_info_and_warning() {
    let _shared = interpreter_wide_state();
    let h = auth_driver(
        "printing",
        "    print('hello', 'world')\n    print('two\\nlines')\n    print('part', end='')\n    print('ial')\n\
         \x20   sys.stderr.write('careful\\n')\n    print('to stderr', file=sys.stderr)\n    return None",
    );
    assert_eq!(authenticate(&h, "c1"), Login::Undecided);
    let got: Vec<(log::Level, String)> = records("printing")
        .into_iter()
        .map(|(l, _, t)| (l, t))
        .collect();
    use log::Level::{Info, Warn};
    let want = [
        (Info, "hello world"),
        (Info, "two"),
        (Info, "lines"),
        (Info, "partial"),
        (Warn, "careful"),
        (Warn, "to stderr"),
    ];
    assert_eq!(got, want.map(|(l, t)| (l, t.to_string())).to_vec());
}

#[test]
fn logging_records_reach_the_log_at_their_level_and_follow_the_brokers() {
    let _shared = interpreter_wide_state();
    let h = auth_driver(
        "logging",
        "    log = logging.getLogger('acl')\n    log.info('checked %s', clientinfo[1][1].decode())\n\
         \x20   log.warning('odd')\n    log.error('bad')\n    log.debug('debug %s', clientinfo[1][1].decode())\n\
         \x20   return None",
    );
    // Records of the call for `clientid`: those whose text ends with it.
    let of = |clientid: &str| -> Vec<(log::Level, String)> {
        records("logging")
            .into_iter()
            .map(|(l, _, t)| (l, t))
            .filter(|(_, t)| t.ends_with(clientid))
            .collect()
    };
    // The broker logs everything (setup): every record is made.
    authenticate(&h, "c1");
    assert_eq!(
        of("c1"),
        vec![
            (log::Level::Info, "acl: checked c1".to_string()),
            (log::Level::Debug, "acl: debug c1".to_string()),
        ]
    );
    // The broker's level goes to info: the debug record is no longer made
    // (Python's root level follows, so not even formatted).
    log::set_max_level(log::LevelFilter::Info);
    authenticate(&h, "c2");
    let root_level = py_eval("__import__('logging').getLogger().level");
    log::set_max_level(log::LevelFilter::Trace);
    assert_eq!(
        root_level, "20",
        "the root logger follows the broker's level"
    );
    assert_eq!(
        of("c2"),
        vec![(log::Level::Info, "acl: checked c2".to_string())]
    );
    let levels: Vec<log::Level> = records("logging").into_iter().map(|(l, _, _)| l).collect();
    for level in [log::Level::Info, log::Level::Warn, log::Level::Error] {
        assert!(levels.contains(&level), "{level} in {levels:?}");
    }
}

#[test]
fn output_still_reaches_the_log_after_deinit_and_init() {
    let _shared = interpreter_wide_state();
    setup();
    let dir = temp_dir("reinit");
    // A deinit that takes print() and logging away from the broker.
    write(
        &dir,
        "reinit_hooks.py",
        "import io, sys, logging\n\
         def init():\n    return (0, ([('client_connected', 'reinit_hooks', 'connected', [])], None))\n\
         def connected(clientinfo, state):\n    print('connected', dict(clientinfo)[b'clientid'].decode())\n    logging.warning('logged')\n\
         def deinit():\n    sys.stdout = io.StringIO()\n    logging.getLogger().handlers.clear()\n",
    );
    let config = config("reinit", &dir.to_string_lossy(), "reinit_hooks", &[]);
    let connected = testing::sample(Hook::ClientConnected);
    let printed = || {
        records("reinit")
            .iter()
            .filter(|(_, _, t)| t == "connected subA")
            .count()
    };
    for (round, lines) in [("first", 1), ("second", 2)] {
        let h = broker(&config);
        // The captured client.connected is client subA's.
        on_pool_thread(|| h.replay(&connected));
        h.stop();
        assert_eq!(printed(), lines, "print() in the {round} round");
    }
    let logged = records("reinit")
        .into_iter()
        .filter(|(_, _, t)| t == "root: logged")
        .count();
    assert_eq!(logged, 2, "logging in both rounds");
}

#[test]
fn sys_exit_and_keyboard_interrupt_in_a_handler_are_ordinary_failures() {
    let h = auth_driver(
        "exits",
        "    if clientinfo[1][1] == b'exit':\n        sys.exit(3)\n    if clientinfo[1][1] == b'interrupt':\n        raise KeyboardInterrupt\n    return (0, True)",
    );
    let fails = |clientid: &str| auth_failure(&h, clientid);
    let exit = fails("exit").expect("sys.exit fails the call");
    assert!(
        exit.contains("SystemExit: 3") && exit.contains("Traceback"),
        "{exit}"
    );
    let interrupt = fails("interrupt").expect("KeyboardInterrupt fails the call");
    assert!(interrupt.contains("KeyboardInterrupt"), "{interrupt}");
    // The process and the interpreter are still there.
    assert_eq!(authenticate(&h, "c1"), ALLOWED);
}

#[test]
fn recursion_to_pythons_limit_is_a_failure_not_a_crash() {
    let h = auth_driver(
        "recursion",
        "    def deeper(n):\n        return deeper(n + 1)\n    if clientinfo[1][1] == b'python':\n        deeper(0)\n\
         \x20   nested = []\n    for _ in range(100000):\n        nested = [nested]\n    repr(nested)",
    );
    let fails = |clientid: &str| auth_failure(&h, clientid);
    assert!(fails("python").is_some_and(|f| f.contains("RecursionError")));
    assert!(
        fails("c").is_some_and(|f| f.contains("RecursionError")),
        "recursion in C (repr)"
    );
}

#[test]
fn subprocess_returns_the_childs_real_exit_code() {
    let h = auth_driver(
        "subprocess",
        "    code = subprocess.run(['sh', '-c', 'exit 3']).returncode\n    print('exit code', code)\n    return (0, code == 3)",
    );
    assert_eq!(
        authenticate(&h, "c1"),
        ALLOWED,
        "{:?}",
        records("subprocess")
    );
    assert_eq!(disposition(libc::SIGCHLD), libc::SIG_DFL);
}

#[test]
fn handlers_cannot_replace_the_vms_signal_handlers() {
    let h = auth_driver(
        "signals",
        "    assert signal.getsignal(signal.SIGTERM) is None, 'not a handler of Python'\n\
         \x20   signal.signal(signal.SIGTERM, lambda *a: None)",
    );
    let failed = auth_failure(&h, "c1").expect("signal.signal fails");
    assert!(
        failed.contains("ValueError") && failed.contains("main thread"),
        "{failed}"
    );
    assert_eq!(
        disposition(libc::SIGTERM),
        vm_sigterm_handler(),
        "SIGTERM is still the VM's"
    );
    assert_eq!(
        disposition(libc::SIGINT),
        libc::SIG_DFL,
        "Python installed no SIGINT handler"
    );
}

#[test]
fn c_extension_modules_import_and_work() {
    let h = auth_driver(
        "cext",
        "    import sqlite3, json, ssl, hashlib, decimal, ctypes\n\
         \x20   db = sqlite3.connect(':memory:')\n    (one,) = db.execute('select 1').fetchone()\n\
         \x20   ok = one == 1 and json.loads('[1]') == [1] and ssl.create_default_context() is not None\n\
         \x20   return (0, ok and hashlib.sha256(b'').hexdigest().startswith('e3b0'))",
    );
    assert_eq!(authenticate(&h, "c1"), ALLOWED);
}

#[test]
fn a_thread_a_handler_starts_runs_between_calls() {
    let h = auth_driver(
        "threads",
        "    global counter\n    if clientinfo[1][1] == b'start':\n        counter = [0]\n\
         \x20       def count():\n            while counter[0] < 50:\n                counter[0] += 1\n                time.sleep(0.001)\n\
         \x20       threading.Thread(target=count, daemon=True).start()\n        return None\n\
         \x20   return (0, counter[0] >= 50)",
    );
    assert_eq!(authenticate(&h, "start"), Login::Undecided);
    // Between calls nobody holds the GIL: the thread counts while this one
    // only sleeps (outside Python) and peeks now and then.
    let mut finished = false;
    for _ in 0..500 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        if authenticate(&h, "peek") == ALLOWED {
            finished = true;
            break;
        }
    }
    assert!(finished, "the handler's thread did not run between calls");
}

#[test]
fn a_sleeping_handler_does_not_hold_other_calls() {
    let h = auth_driver(
        "sleepy",
        "    global woken\n    if clientinfo[1][1] == b'sleeper':\n        woken = threading.Event()\n        READY.set()\n\
         \x20       return (0, woken.wait(10))\n    READY.wait(10)\n    woken.set()\n    return (0, True)\nREADY = threading.Event()",
    );
    // The sleeper waits (GIL released) until the waker, a call on another
    // thread, wakes it; were the GIL held, the waker could not run, and
    // the sleeper would time out and deny.
    let (sleeper, waker) = std::thread::scope(|s| {
        let sleeper = s.spawn(|| authenticate(&h, "sleeper"));
        let waker = s.spawn(|| authenticate(&h, "waker"));
        (
            sleeper.join().expect("sleeper"),
            waker.join().expect("waker"),
        )
    });
    assert_eq!((sleeper, waker), (ALLOWED, ALLOWED));
}

#[test]
fn init_again_picks_up_an_edited_module_and_its_helpers() {
    setup();
    let dir = temp_dir("edited");
    let module = |answer: &str| {
        format!(
            "import edited_helper\n\
             def init():\n    return (0, ([('client_authenticate', 'edited_hooks', 'authenticate', [])], None))\n\
             def authenticate(clientinfo, so_far, state):\n    return (0, {answer} and edited_helper.ANSWER)\n"
        )
    };
    let config = config("edited", &dir.to_string_lossy(), "edited_hooks", &[]);
    let run = |hooks: &str, helper: &str| {
        write(&dir, "edited_hooks.py", hooks);
        write(&dir, "edited_helper.py", helper);
        // Same size and same mtime as before: a cached .pyc would pass for fresh.
        let when =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for file in ["edited_hooks.py", "edited_helper.py"] {
            let f = std::fs::File::options()
                .write(true)
                .open(dir.join(file))
                .expect("open");
            f.set_modified(when).expect("mtime");
        }
        let h = broker(&config);
        let answer = authenticate(&h, "c1");
        h.stop();
        answer
    };
    assert_eq!(run(&module("True "), "ANSWER = True "), ALLOWED);
    assert_eq!(
        run(&module("False"), "ANSWER = True "),
        Login::Denied,
        "the edited module"
    );
    assert_eq!(
        run(&module("True "), "ANSWER = False"),
        Login::Denied,
        "the edited helper"
    );
    assert!(!dir.join("__pycache__").exists(), "no bytecode written");
}

#[test]
fn two_drivers_run_side_by_side_with_modules_of_the_same_name() {
    setup();
    let (a, b) = (temp_dir("side_a"), temp_dir("side_b"));
    let source = |answer: &str| {
        format!(
            "def init():\n    return (0, ([('client_authenticate', 'same_name', 'authenticate', [])], None))\n\
             def authenticate(clientinfo, so_far, state):\n    return (0, {answer})\n"
        )
    };
    write(&a, "same_name.py", &source("True"));
    write(&b, "same_name.py", &source("False"));
    let ha = broker(&config("side_a", &a.to_string_lossy(), "same_name", &[]));
    let hb = broker(&config("side_b", &b.to_string_lossy(), "same_name", &[]));
    assert_eq!(
        (authenticate(&ha, "c1"), authenticate(&hb, "c1")),
        (ALLOWED, Login::Denied)
    );
    hb.stop();
    assert_eq!(authenticate(&ha, "c1"), ALLOWED, "a outlives b");
    ha.stop();
}

#[test]
fn python_refuses_to_run_on_a_scheduler_sized_stack() {
    let h = auth_driver("small_stack", "    return (0, True)");
    let login = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(320 << 10)
            .spawn_scoped(s, || h.authenticate(&client("c1", None)))
            .expect("thread")
            .join()
            .expect("joined")
    });
    assert_eq!(login, Login::Denied, "the failure policy");
    assert!(
        h.failures()
            .last()
            .is_some_and(|f| f.contains("pool threads only")),
        "{:?}",
        h.failures()
    );
}
