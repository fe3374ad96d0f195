//! The original driver's contract: the article's CustomHook on the PyPI
//! SDK, unchanged; handlers written against the raw call convention see
//! the arguments the original handed them.

mod common;

use common::*;
use emqx_extension_sdk::testing::{self, Access, Login, Publish};
use emqx_extension_sdk::{
    AclDecision, AuthDecision, AuthResult, ClientInfo, Handler, Hook, Properties, PubSub,
    PublishDecision,
};
use std::path::PathBuf;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv scripts/python-venv.sh makes (EMQX_PYVENV names another).
fn venv() -> String {
    let venv = std::env::var("EMQX_PYVENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest_dir().join("../../_build/pyvenv"));
    assert!(
        venv.join("lib/python3.11/site-packages/emqx_extension")
            .is_dir(),
        "no PyPI SDK in {}: run scripts/python-venv.sh",
        venv.display()
    );
    venv.canonicalize()
        .expect("venv path")
        .to_string_lossy()
        .into_owned()
}

const SO_FAR: AuthResult = AuthResult {
    success: true,
    anonymous: true,
};

#[test]
fn the_articles_custom_hook_runs_unchanged_on_the_pypi_sdk() {
    let fixtures = manifest_dir().join("tests/fixtures/custom_hook");
    let venv = venv();
    let broker = broker(&config(
        "custom",
        &fixtures.to_string_lossy(),
        "hooks",
        &[("venv", &venv)],
    ));
    let hooks: Vec<Hook> = broker.hooks().iter().collect();
    assert_eq!(
        hooks,
        vec![
            Hook::ClientConnect,
            Hook::ClientConnected,
            Hook::ClientAuthenticate,
            Hook::ClientCheckAcl,
            Hook::MessagePublish
        ]
    );
    on_pool_thread(|| {
        // The captured login (client c-bad): every named client is let in.
        let login = testing::sample(Hook::ClientAuthenticate).client_info(0);
        assert_eq!(
            broker.authenticate(&login),
            Login::Allowed { superuser: false }
        );
        let nameless = ClientInfo::builder().clientid("").build();
        assert_eq!(broker.authenticate(&nameless), Login::Denied);
        let subscriber = testing::sample(Hook::ClientCheckAcl).client_info(0);
        assert_eq!(
            broker.check_acl(&subscriber, PubSub::Publish, "t/1"),
            Access::Allowed
        );
        let anonymous = ClientInfo::builder().build();
        assert_eq!(
            broker.check_acl(&anonymous, PubSub::Publish, "t/1"),
            Access::Denied
        );
        let connect = testing::sample(Hook::ClientConnect);
        assert_eq!(
            broker.connect(&connect.conn_info(0), &Properties::default()),
            Ok(())
        );
        let published = testing::sample(Hook::MessagePublish).message(0);
        match broker.publish(&published) {
            Publish::Routed(m) => assert_eq!(
                (m.topic().as_ref(), m.payload(), m.qos()),
                ("p/1", &b"m1"[..], 1)
            ),
            Publish::Dropped => panic!("the CustomHook dropped a message"),
        }
        // Every captured call, as the broker made it: the hooks the
        // CustomHook does not define are not even called.
        for sample in testing::samples() {
            broker.replay(&sample);
        }
    });
    let lines: Vec<(log::Level, String)> = records("custom")
        .into_iter()
        .map(|(level, _, text)| (level, text))
        .collect();
    for expected in [
        "[Python SDK] [on_client_authenticate] c-bad authenticate",
        "[Python SDK] [on_client_authenticate]  authenticate",
        "[Python SDK] [on_client_check_acl] good check ACL: publish t/1",
        "[Python SDK] [on_client_check_acl] good check ACL: subscribe p/#",
        "[Python SDK] [on_client_connect] c-bad connecte",
        "[Python SDK] [on_client_connected] subA connected",
        "[Python SDK] [on_message_publish] p/1 m1",
    ] {
        assert!(
            lines.contains(&(log::Level::Info, expected.to_string())),
            "no info record {expected:?} in {lines:?}"
        );
    }
    broker.stop();
}

/// A module in the style of the original's own test script: plain
/// functions, `[("topics", [...])]` options, each call's arguments kept as
/// their repr for the test to read.
const RAW: &str = r#"
SEEN = {}
STATE = {"connection": "db"}

def init():
    specs = [(name, "raw_hooks", "on_" + name, [("topics", [b"t/#"])] if name.startswith("message") else [])
             for name in ("client_connect", "client_connack", "client_connected", "client_disconnected",
                          "client_authenticate", "client_check_acl", "client_subscribe", "client_unsubscribe",
                          "session_subscribed", "session_terminated", "message_publish", "message_delivered",
                          "message_dropped")]
    return (0, (specs, STATE))

def deinit():
    print("raw_hooks deinit, after", len(SEEN), "hooks")

def keep(name, args):
    assert args[-1] is STATE, "State is the object init() returned"
    SEEN[name] = repr(args[:-1])

def on_client_connect(*args): keep("client_connect", args)
def on_client_connack(*args): keep("client_connack", args)
def on_client_connected(*args): keep("client_connected", args)
def on_client_disconnected(*args): keep("client_disconnected", args)
def on_client_authenticate(*args): keep("client_authenticate", args); return (0, True)
def on_client_check_acl(*args): keep("client_check_acl", args); return (0, False)
def on_client_subscribe(*args): keep("client_subscribe", args)
def on_client_unsubscribe(*args): keep("client_unsubscribe", args)
def on_session_subscribed(*args): keep("session_subscribed", args)
def on_session_terminated(*args): keep("session_terminated", args)
def on_message_publish(*args): keep("message_publish", args); return (0, [(b"topic", b"t/2"), (b"qos", 0)])
def on_message_delivered(*args): keep("message_delivered", args)
def on_message_dropped(*args): keep("message_dropped", args)
"#;

const CLIENT: &str = "List([(Atom(b'node'), Atom(b'emqx@127.0.0.1')), (Atom(b'clientid'), b'c1'), (Atom(b'username'), b'good'), (Atom(b'password'), b's3cret'), (Atom(b'peerhost'), b'127.0.0.1'), (Atom(b'sockport'), 1883), (Atom(b'protocol'), Atom(b'mqtt')), (Atom(b'mountpoint'), b''), (Atom(b'is_superuser'), False), (Atom(b'anonymous'), True)])";
const CONN: &str = "List([(Atom(b'node'), Atom(b'emqx@127.0.0.1')), (Atom(b'clientid'), b'c1'), (Atom(b'username'), b''), (Atom(b'peerhost'), b'127.0.0.1'), (Atom(b'sockport'), 1883), (Atom(b'proto_name'), b'MQTT'), (Atom(b'proto_ver'), 4), (Atom(b'keepalive'), 60)])";
const MESSAGE: &str = "List([(Atom(b'node'), Atom(b'emqx@127.0.0.1')), (Atom(b'id'), b'00066123'), (Atom(b'qos'), 1), (Atom(b'from'), b'pubA'), (Atom(b'topic'), b't/1'), (Atom(b'payload'), b'm1'), (Atom(b'timestamp'), 1795654384903)])";

fn seen(hook: &str) -> String {
    py_eval(&format!(
        "__import__('sys').modules['raw_hooks'].SEEN.get('{hook}')"
    ))
}

#[test]
fn raw_handlers_get_the_original_arguments_then_state() {
    use emqx_extension_sdk::{MessageRewrite, Reason, SessionInfo, SubOpts};
    let broker = driver("raw", "raw_hooks", RAW);
    let h = broker.handler();
    let c = client("c1", Some("good"));
    let props = Properties::builder()
        .set("Session-Expiry-Interval", 30)
        .build();
    on_pool_thread(|| {
        assert_eq!(
            h.on_client_authenticate(&c, SO_FAR, &ctx(Hook::ClientAuthenticate)),
            AuthDecision::Allow
        );
        assert_eq!(
            h.on_client_check_acl(
                &c,
                PubSub::Subscribe,
                "p/#",
                true,
                &ctx(Hook::ClientCheckAcl)
            ),
            AclDecision::Deny
        );
        h.on_client_connect(&conn("c1", None), &props, &ctx(Hook::ClientConnect));
        h.on_client_connack(
            &conn("c1", None),
            "not_authorized",
            &Properties::default(),
            &ctx(Hook::ClientConnack),
        );
        h.on_client_connected(&c, &conn("c1", None), &ctx(Hook::ClientConnected));
        h.on_client_disconnected(
            &c,
            &Reason::new("normal"),
            &conn("c1", None),
            &ctx(Hook::ClientDisconnected),
        );
        let opts = SubOpts::builder().qos(1).build();
        h.on_client_subscribe(
            &c,
            &Properties::default(),
            "p/#",
            &opts,
            &ctx(Hook::ClientSubscribe),
        );
        h.on_client_unsubscribe(
            &c,
            &Properties::default(),
            "r/#",
            &ctx(Hook::ClientUnsubscribe),
        );
        let opts = SubOpts::builder().qos(1).is_new(true).build();
        h.on_session_subscribed(&c, "p/#", &opts, &ctx(Hook::SessionSubscribed));
        h.on_session_terminated(
            &c,
            &Reason::new("{shutdown,tcp_closed}"),
            &SessionInfo::builder().build(),
            &ctx(Hook::SessionTerminated),
        );
        assert_eq!(
            h.on_message_publish(&message("t/1", b"m1"), &ctx(Hook::MessagePublish)),
            PublishDecision::Rewrite(MessageRewrite::default().topic("t/2").qos(0))
        );
        h.on_message_delivered(&c, &message("t/1", b"m1"), &ctx(Hook::MessageDelivered));
        h.on_message_dropped(
            &message("t/1", b"m1"),
            "emqx@127.0.0.1",
            &Reason::new("no_subscribers"),
            &ctx(Hook::MessageDropped),
        );
    });
    assert_eq!(seen("client_authenticate"), format!("({CLIENT}, True)"));
    assert_eq!(
        seen("client_check_acl"),
        format!("({CLIENT}, Atom(b'subscribe'), b'p/#', True)")
    );
    assert_eq!(
        seen("client_connect"),
        format!("({CONN}, List([(Atom(b'Session-Expiry-Interval'), 30)]))")
    );
    assert_eq!(
        seen("client_connack"),
        format!("({CONN}, Atom(b'not_authorized'), List([]))")
    );
    assert_eq!(seen("client_connected"), format!("({CLIENT},)"));
    assert_eq!(
        seen("client_disconnected"),
        format!("({CLIENT}, Atom(b'normal'))")
    );
    assert_eq!(
        seen("client_subscribe"),
        format!("({CLIENT}, List([]), List([(b'p/#', 1)]))")
    );
    assert_eq!(
        seen("client_unsubscribe"),
        format!("({CLIENT}, List([]), List([(b'r/#', 0)]))")
    );
    assert_eq!(
        seen("session_subscribed"),
        format!("({CLIENT}, b'p/#', List([(Atom(b'is_new'), True), (Atom(b'nl'), 0), (Atom(b'qos'), 1), (Atom(b'rap'), 0), (Atom(b'rh'), 0)]))")
    );
    assert_eq!(
        seen("session_terminated"),
        format!("({CLIENT}, b'{{shutdown,tcp_closed}}')")
    );
    assert_eq!(seen("message_publish"), format!("({MESSAGE},)"));
    assert_eq!(seen("message_delivered"), format!("({CLIENT}, {MESSAGE})"));
    assert_eq!(
        seen("message_dropped"),
        format!("({MESSAGE}, Atom(b'no_subscribers'))")
    );
    let spec = h.hook_spec();
    assert!(spec.wants(Hook::MessagePublish, "t/1"));
    assert!(
        !spec.wants(Hook::MessagePublish, "x/1"),
        "topics from [(\"topics\", [...])] filter"
    );
    assert_eq!(
        spec.mode_of(Hook::ClientAuthenticate),
        emqx_extension_sdk::Mode::Pool
    );
    broker.stop();
    assert!(wait_record("raw", "raw_hooks deinit, after 13 hooks").is_some());
}

/// Every hook, kept by one function that records its arguments.
const EVERY_HOOK: &str = r#"
SEEN = []

def init():
    names = ("client_connect", "client_connack", "client_connected", "client_disconnected",
             "client_authenticate", "client_check_acl", "client_subscribe", "client_unsubscribe",
             "session_created", "session_subscribed", "session_unsubscribed", "session_resumed",
             "session_discarded", "session_takeovered", "session_terminated", "message_publish",
             "message_delivered", "message_acked", "message_dropped")
    return (0, ([(name, "every_hook", "keep", []) for name in names], "state"))

def keep(*args):
    assert args[-1] == "state"
    SEEN.append(repr(args[:-1]))
"#;

/// A captured client's `clientinfo` as the original passed it.
fn client_repr(clientid: &str, username: &str, anonymous: bool) -> String {
    let anonymous = if anonymous { "True" } else { "False" };
    format!(
        "List([(Atom(b'node'), Atom(b'emqx@127.0.0.1')), (Atom(b'clientid'), b'{clientid}'), \
         (Atom(b'username'), b'{username}'), (Atom(b'password'), b''), (Atom(b'peerhost'), b'127.0.0.1'), \
         (Atom(b'sockport'), 1883), (Atom(b'protocol'), Atom(b'mqtt')), (Atom(b'mountpoint'), b''), \
         (Atom(b'is_superuser'), False), (Atom(b'anonymous'), {anonymous})])"
    )
}

/// A captured message as the original passed it.
fn message_repr(id: &str, qos: u8, from: &str, topic: &str, payload: &str, ts: u64) -> String {
    format!(
        "List([(Atom(b'node'), Atom(b'emqx@127.0.0.1')), (Atom(b'id'), b'{id}'), (Atom(b'qos'), {qos}), \
         (Atom(b'from'), b'{from}'), (Atom(b'topic'), b'{topic}'), (Atom(b'payload'), b'{payload}'), \
         (Atom(b'timestamp'), {ts})])"
    )
}

#[test]
fn every_captured_call_reaches_a_raw_handler_as_the_original_passed_it() {
    let dir = write_module("every", "every_hook", EVERY_HOOK);
    let broker = broker(&config("every", &dir, "every_hook", &[]));
    assert_eq!(broker.hooks().iter().count(), 19);
    let conn = "List([(Atom(b'node'), Atom(b'emqx@127.0.0.1')), (Atom(b'clientid'), b'c-bad'), \
                (Atom(b'username'), b'bad'), (Atom(b'peerhost'), b'127.0.0.1'), (Atom(b'sockport'), 1883), \
                (Atom(b'proto_name'), b'MQTT'), (Atom(b'proto_ver'), 4), (Atom(b'keepalive'), 60)])";
    let (sub_a, pub_a, sub_b) = (
        client_repr("subA", "good", false),
        client_repr("pubA", "good", false),
        client_repr("subB", "good", false),
    );
    let m1 = message_repr(
        "000661235dc06475f443000006ae0001",
        1,
        "pubA",
        "p/1",
        "m1",
        1795654384903,
    );
    let m2 = message_repr(
        "000661235dc07a9bf443000006bf0001",
        0,
        "pubB",
        "nobody/here",
        "m2",
        1795654384908,
    );
    let expected = |hook: Hook| -> String {
        match hook {
            Hook::ClientAuthenticate => format!("({}, True)", client_repr("c-bad", "bad", true)),
            Hook::ClientCheckAcl => format!("({sub_a}, Atom(b'subscribe'), b'p/#', True)"),
            Hook::ClientConnack => format!("({conn}, Atom(b'not_authorized'), List([]))"),
            Hook::ClientConnect => format!("({conn}, List([]))"),
            Hook::ClientConnected
            | Hook::SessionCreated
            | Hook::SessionDiscarded
            | Hook::SessionResumed
            | Hook::SessionTakeovered => format!("({sub_a},)"),
            Hook::ClientDisconnected | Hook::SessionTerminated => {
                format!("({pub_a}, Atom(b'normal'))")
            }
            Hook::ClientSubscribe => format!("({sub_a}, List([]), List([(b'p/#', 1)]))"),
            Hook::ClientUnsubscribe => format!("({sub_b}, List([]), List([(b'r/#', 0)]))"),
            Hook::SessionSubscribed => format!(
                "({sub_a}, b'p/#', List([(Atom(b'is_new'), True), (Atom(b'nl'), 0), (Atom(b'qos'), 1), \
                 (Atom(b'rap'), 0), (Atom(b'rh'), 0)]))"
            ),
            Hook::SessionUnsubscribed => format!("({sub_b}, b'r/#')"),
            Hook::MessagePublish => format!("({m1},)"),
            Hook::MessageDelivered | Hook::MessageAcked => format!("({sub_a}, {m1})"),
            Hook::MessageDropped => format!("({m2}, Atom(b'no_subscribers'))"),
        }
    };
    for sample in testing::samples() {
        let hook = sample.hook();
        let result = on_pool_thread(|| broker.replay(&sample));
        // No opinion: a fold's accumulator stands.
        assert_eq!(
            result,
            sample.accumulator().unwrap_or_else(|| "ok".into()),
            "{}",
            hook.name()
        );
        let seen = py_eval("__import__('sys').modules['every_hook'].SEEN.pop()");
        assert_eq!(seen, expected(hook), "{}", hook.name());
    }
    broker.stop();
}

#[test]
fn the_pypi_sdks_raw_topic_list_filters_the_message_hooks_only() {
    let h = driver(
        "rawtopics",
        "sdk_topics",
        r#"
def init():
    return (0, ([("client_connected", "sdk_topics", "cb", ["a/+"]),
                 ("message_publish", "sdk_topics", "cb", ["a/+", b"b/#"])], ()))
def cb(*args):
    pass
"#,
    );
    let spec = h.handler().hook_spec();
    assert!(spec.validate().is_ok());
    assert!(spec.wants(Hook::MessagePublish, "a/1"));
    assert!(spec.wants(Hook::MessagePublish, "b/1/2"));
    assert!(!spec.wants(Hook::MessagePublish, "c"));
    h.stop();
}

#[test]
fn init_errors_say_what_is_wrong() {
    setup();
    let bad = |name: &str, source: &str| -> String {
        let dir = temp_dir(name);
        write(&dir, "bad_init.py", source);
        match init(&config(name, &dir.to_string_lossy(), "bad_init", &[])) {
            Ok(_) => panic!("{name}: the driver started"),
            Err(e) => e.0,
        }
    };
    assert!(bad("noinit", "x = 1").contains("has no init()"));
    assert!(bad("badreturn", "def init(): return [1]").contains("expected (0, (HookSpecs, State))"));
    assert!(bad("errorreturn", "def init(): return (1, 'no database')")
        .contains("init() failed: no database"));
    assert!(bad(
        "unknownhook",
        "def init(): return (0, ([('client_bogus', 'bad_init', 'init', [])], ()))"
    )
    .contains("unknown hook name \"client_bogus\""));
    assert!(bad(
        "nofunction",
        "def init(): return (0, ([('client_connected', 'bad_init', 'x.y', [])], ()))"
    )
    .contains("bad_init.x.y does not exist"));
    assert!(bad(
        "badfilter",
        "def init(): return (0, ([('message_publish', 'bad_init', 'init', ['a/#/b'])], ()))"
    )
    .contains("message.publish"));
    let syntax = bad("syntax", "def init(:\n    pass\n");
    assert!(
        syntax.contains("syntax error in ") && syntax.contains("bad_init.py, line 1:"),
        "{syntax}"
    );
    let raised = bad("raises", "def init():\n    raise RuntimeError('boom')\n");
    assert!(
        raised.contains("Traceback") && raised.contains("RuntimeError: boom"),
        "{raised}"
    );
    let missing = init(&config("nomodule", "/nonexistent", "nothing_here", &[]))
        .err()
        .map(|e| e.0);
    assert!(missing
        .is_some_and(|m| m.contains("no module nothing_here (nothing_here.py) in /nonexistent")));
    let no_path = init(&emqx_extension_sdk::Config::new(
        "nopath",
        vec![("init_module".into(), "x".into())],
    ));
    assert!(no_path
        .err()
        .is_some_and(|e| e.0.contains("`path` is not set")));
}

/// What the original never had: the driver's settings (a Rust handler's
/// `Config`, `exhook.drivers.NAME.handler.KEY` among them) reach the
/// module while it is imported, in `init()` and in `deinit()`; not in a
/// hook call, where no driver is being loaded.
#[test]
fn settings_reach_the_module_in_init_and_deinit_only() {
    setup();
    let dir = temp_dir("settings");
    let source = "import exhook, os\n\
        AT_IMPORT = exhook.settings()['database']\n\
        def init():\n\
        \x20   s = exhook.settings()\n\
        \x20   s['database'] = 'changed by init'\n\
        \x20   state = (AT_IMPORT, exhook.settings()['database'], s['node'], s['init_module'])\n\
        \x20   return (0, ([('client_authenticate', 'with_settings', 'auth', [])], state))\n\
        def auth(clientinfo, so_far, state):\n\
        \x20   try:\n\
        \x20       exhook.settings()\n\
        \x20       return (0, False)\n\
        \x20   except RuntimeError:\n\
        \x20       return (0, state == ('x.sqlite3', 'x.sqlite3', 'emqx@127.0.0.1', 'with_settings'))\n\
        def deinit():\n\
        \x20   with open(os.path.join(os.path.dirname(__file__), 'deinit.txt'), 'w') as f:\n\
        \x20       f.write(exhook.settings()['database'])\n";
    write(&dir, "with_settings.py", source);
    let path = dir.to_string_lossy();
    let broker = broker(&config(
        "settings",
        &path,
        "with_settings",
        &[
            ("database", "x.sqlite3"),
            ("database", "the second is ignored"),
        ],
    ));
    assert_eq!(
        on_pool_thread(|| broker.authenticate(&client("c1", None))),
        Login::Allowed { superuser: false }
    );
    broker.stop();
    assert_eq!(
        std::fs::read_to_string(dir.join("deinit.txt"))
            .ok()
            .as_deref(),
        Some("x.sqlite3")
    );
}
