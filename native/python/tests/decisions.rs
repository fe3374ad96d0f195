//! What a hook's answer decides: the Python gatekeeper (the twin of
//! native/examples/gatekeeper) takes every kind of decision; answers that
//! fit no hook are failures, answers the original ignored are ignored.

mod common;

use common::*;
use emqx_extension_hook_python::PythonHandler;
use emqx_extension_sdk::testing::{self, Access, Login, Publish, Suback, TestBroker};
use emqx_extension_sdk::{
    ClientInfo, ConnInfo, Hook, Message, Properties, PubSub, ReasonCode, SubOpts,
};

fn gatekeeper() -> TestBroker<PythonHandler> {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    broker(&config(
        "gatekeeper",
        &examples.to_string_lossy(),
        "gatekeeper",
        &[],
    ))
}

#[test]
fn the_python_gatekeeper_decides_as_the_rust_one() {
    let broker = gatekeeper();
    let hooks: Vec<Hook> = broker.hooks().iter().collect();
    assert_eq!(
        hooks,
        vec![
            Hook::ClientConnect,
            Hook::ClientAuthenticate,
            Hook::ClientSubscribe,
            Hook::MessagePublish,
            Hook::MessageDelivered
        ]
    );
    on_pool_thread(|| {
        // The captured CONNECT and login are user `bad`'s.
        let connect = testing::sample(Hook::ClientConnect);
        assert_eq!(
            broker.connect(&connect.conn_info(0), &Properties::default()),
            Err(ReasonCode::BANNED)
        );
        let login = testing::sample(Hook::ClientAuthenticate).client_info(0);
        assert_eq!(broker.authenticate(&login), Login::Denied);
        let good = ConnInfo::builder().username("good").build();
        assert_eq!(broker.connect(&good, &Properties::default()), Ok(()));
        let good = ClientInfo::builder().username("good").build();
        assert_eq!(broker.authenticate(&good), Login::Undecided);

        let opts = SubOpts::builder().qos(1).build();
        let filters = [
            ("#", opts.clone()),
            ("private/inbox", opts.clone()),
            ("p/#", opts.clone()),
        ];
        assert_eq!(
            broker.subscribe(&good, &Properties::default(), &filters),
            vec![
                Suback::Refused { filter: "#".into() },
                Suback::Granted {
                    filter: "users/good/inbox".into(),
                    qos: 1
                },
                Suback::Granted {
                    filter: "p/#".into(),
                    qos: 1
                },
            ]
        );
        let anonymous = ClientInfo::builder().build();
        assert_eq!(
            broker.subscribe(
                &anonymous,
                &Properties::default(),
                &[("private/inbox", opts)]
            ),
            vec![Suback::Refused {
                filter: "private/inbox".into()
            }]
        );

        let publish = |topic: &str| broker.publish(&Message::builder().topic(topic).build());
        assert!(matches!(publish("blocked/x"), Publish::Dropped));
        match publish("legacy/a/b") {
            Publish::Routed(m) => assert_eq!((m.topic().as_ref(), m.qos()), ("v2/a/b", 1)),
            Publish::Dropped => panic!("legacy/a/b was dropped"),
        }
        // Outside the handler's topic filters: not even asked.
        match publish("p/1") {
            Publish::Routed(m) => assert_eq!((m.topic().as_ref(), m.qos()), ("p/1", 0)),
            Publish::Dropped => panic!("p/1 was dropped"),
        }

        let captured = testing::sample(Hook::MessageDelivered);
        let received = broker.deliver(&captured.client_info(0), &captured.message(1));
        assert_eq!(received.payload(), b"m1 (for subA)");
        let other = Message::builder()
            .topic("legacy/1")
            .payload(b"x".to_vec())
            .build();
        assert_eq!(
            broker.deliver(&captured.client_info(0), &other).payload(),
            b"x"
        );
    });
    broker.stop();
}

/// A driver whose every hook returns `eval(ANSWER)`, ANSWER set per test.
fn answering(name: &str) -> TestBroker<PythonHandler> {
    driver(
        name,
        &format!("answers_{name}"),
        &format!(
            "import exhook\nfrom erlport.erlterms import Atom\nANSWER = 'None'\n\
             HOOKS = ['client_connect', 'client_authenticate', 'client_check_acl', 'client_subscribe',\n\
             \x20        'message_publish', 'message_delivered', 'client_connected']\n\
             def init():\n    return (0, ([(h, 'answers_{name}', 'answer', []) for h in HOOKS], None))\n\
             def answer(*args):\n    return eval(ANSWER)\n"
        ),
    )
}

fn answer(name: &str, python: &str) {
    let module = format!("answers_{name}");
    py_eval(&format!(
        "setattr(__import__('sys').modules['{module}'], 'ANSWER', {python:?})"
    ));
}

/// What a published message became: its topic, payload and QoS, or None if dropped.
fn routed(publish: Publish) -> Option<(String, Vec<u8>, u8)> {
    match publish {
        Publish::Routed(m) => Some((m.topic().into_owned(), m.payload().to_vec(), m.qos())),
        Publish::Dropped => None,
    }
}

#[test]
fn the_original_answers_decide_authenticate_acl_and_publish() {
    let broker = answering("original");
    let client = client("c1", None);
    let auth = || on_pool_thread(|| broker.authenticate(&client));
    let acl = || on_pool_thread(|| broker.check_acl(&client, PubSub::Publish, "t"));
    let publish = || on_pool_thread(|| routed(broker.publish(&message("t/1", b"m"))));
    let unchanged = Some(("t/1".to_string(), b"m".to_vec(), 1));
    for no_opinion in ["None", "Atom(b'ok')", "Atom(b'undefined')"] {
        answer("original", no_opinion);
        assert_eq!(auth(), Login::Undecided, "{no_opinion}");
        assert_eq!(acl(), Access::Undecided, "{no_opinion}");
        assert_eq!(publish(), unchanged, "{no_opinion}");
    }
    answer("original", "(0, True)");
    assert_eq!(
        (auth(), acl()),
        (Login::Allowed { superuser: false }, Access::Allowed)
    );
    answer("original", "(0, False)");
    assert_eq!((auth(), acl()), (Login::Denied, Access::Denied));
    answer("original", "(0, [(Atom(b'topic'), b'new/t'), (Atom(b'payload'), 'text'), (Atom(b'qos'), 2), (Atom(b'node'), b'x')])");
    assert_eq!(publish(), Some(("new/t".to_string(), b"text".to_vec(), 2)));
    answer("original", "(0, [])");
    assert_eq!(publish(), unchanged);
    assert_eq!(broker.failures(), Vec::<String>::new());
}

#[test]
fn other_answers_to_the_deciding_hooks_are_failures_that_never_show_secrets() {
    let broker = answering("wrong");
    let fails = |python: &str| -> (String, String, String) {
        answer("wrong", python);
        let f = |r: Option<String>| r.unwrap_or_else(|| format!("{python}: no failure"));
        (
            f(failed(&broker, |b| b.authenticate(&client("c1", None)))),
            f(failed(&broker, |b| {
                b.check_acl(&client("c1", None), PubSub::Publish, "t")
            })),
            f(failed(&broker, |b| {
                b.publish(&message("t/1", b"top secret payload"))
            })),
        )
    };
    let (auth, acl, publish) = fails("True");
    assert!(
        auth.contains("answers_wrong.answer returned True; expected None, (0, True|False)"),
        "{auth}"
    );
    assert!(acl.contains("returned True"), "{acl}");
    assert!(
        publish.contains("returned True; expected None, (0, [("),
        "{publish}"
    );
    let (auth, _, _) = fails("(1, 'database down')");
    assert!(
        auth.contains("returned the error \"database down\""),
        "{auth}"
    );
    let (auth, _, publish) = fails("args[0]");
    assert!(auth.contains("returned List of 10 items"), "{auth}");
    assert!(!auth.contains("s3cret"), "no password in {auth}");
    assert!(
        publish.contains("returned List of 7 items") && !publish.contains("secret"),
        "{publish}"
    );
    let (auth, _, publish) = fails("(0, b's3cret')");
    assert!(auth.contains("returned (0, bytes of length 6)"), "{auth}");
    assert!(
        publish.contains("returned (0, bytes of length 6)"),
        "{publish}"
    );
    let (auth, _, publish) = fails("exhook.refuse()");
    assert!(
        auth.contains("returned a Refuse, which client_authenticate cannot take"),
        "{auth}"
    );
    assert!(
        publish.contains("which message_publish cannot take"),
        "{publish}"
    );
    // The failure policy (deny) answered each: the login was refused.
    answer("wrong", "True");
    assert_eq!(
        on_pool_thread(|| broker.authenticate(&client("c1", None))),
        Login::Denied
    );
}

#[test]
fn answers_the_original_ignored_are_still_ignored() {
    let broker = answering("ignored");
    let connected = testing::sample(Hook::ClientConnected);
    for python in ["True", "(0, True)", "[1, 2]", "'text'"] {
        answer("ignored", python);
        on_pool_thread(|| {
            assert_eq!(
                broker.connect(&conn("c1", None), &Properties::default()),
                Ok(())
            );
            assert_eq!(
                broker.subscribe(
                    &client("c1", None),
                    &Properties::default(),
                    &[("a", SubOpts::builder().build())]
                ),
                vec![Suback::Granted {
                    filter: "a".into(),
                    qos: 0
                }]
            );
            assert_eq!(
                broker
                    .deliver(&client("c1", None), &message("t", b"m"))
                    .payload(),
                b"m"
            );
            assert_eq!(broker.replay(&connected), "ok");
        });
    }
    assert_eq!(broker.failures(), Vec::<String>::new());
    answer("ignored", "(1, 'broken')");
    let failure = failed(&broker, |b| b.replay(&connected));
    assert!(
        failure.is_some_and(|f| f.contains("returned the error \"broken\"")),
        "(1, Reason) fails a notification too"
    );
    answer("ignored", "exhook.drop()");
    let failure = failed(&broker, |b| {
        b.deliver(&client("c1", None), &message("t", b"m"))
    });
    assert!(
        failure.is_some_and(|f| f.contains("returned a Drop, which message_delivered cannot take"))
    );
}

#[test]
fn a_decision_that_cannot_be_built_fails_the_call() {
    let broker = answering("invalid");
    answer("invalid", "exhook.refuse(0x20)");
    let failure = failed(&broker, |b| {
        b.connect(&conn("c1", None), &Properties::default())
    });
    assert!(failure.is_some_and(|f| f.contains("ValueError")));
    answer("invalid", "(0, [(Atom(b'qos'), 7)])");
    let failure = failed(&broker, |b| b.publish(&message("t", b"m")));
    assert!(failure.is_some_and(|f| f.contains("the new qos is 7, expected 0, 1 or 2")));
}

#[test]
fn allow_superuser_lets_a_login_in_as_superuser_and_fits_no_other_hook() {
    let broker = answering("superuser");
    answer("superuser", "exhook.allow_superuser()");
    assert_eq!(
        on_pool_thread(|| broker.authenticate(&client("c1", None))),
        Login::Allowed { superuser: true }
    );
    let acl = failed(&broker, |b| {
        b.check_acl(&client("c1", None), PubSub::Publish, "t")
    });
    assert!(
        acl.as_deref()
            .is_some_and(|f| f.contains("which client_check_acl cannot take")),
        "{acl:?}"
    );
}
