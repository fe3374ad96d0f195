//! What a hook's answer decides: the Python gatekeeper (the twin of
//! native/examples/gatekeeper) takes every kind of decision; answers that
//! fit no hook are failures, answers the original ignored are ignored.

mod common;

use common::*;
use emqx_extension_hook_python::PythonHandler;
use emqx_extension_sdk::testing::{self, Login, Publish, Suback, TestBroker};
use emqx_extension_sdk::{
    AclDecision, AuthDecision, AuthResult, ClientInfo, ConnInfo, ConnectDecision,
    DeliveredDecision, FilterDecision, Handler, Hook, Message, MessageRewrite, Properties, PubSub,
    PublishDecision, ReasonCode, SubOpts,
};

const SO_FAR: AuthResult = AuthResult {
    success: true,
    anonymous: true,
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
fn answering(name: &str) -> PythonHandler {
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

#[test]
fn the_original_answers_decide_authenticate_acl_and_publish() {
    let h = answering("original");
    let auth =
        || h.on_client_authenticate(&client("c1", None), SO_FAR, &ctx(Hook::ClientAuthenticate));
    let acl = || {
        h.on_client_check_acl(
            &client("c1", None),
            PubSub::Publish,
            "t",
            true,
            &ctx(Hook::ClientCheckAcl),
        )
    };
    let publish = || h.on_message_publish(&message("t/1", b"m"), &ctx(Hook::MessagePublish));
    for no_opinion in ["None", "Atom(b'ok')", "Atom(b'undefined')"] {
        answer("original", no_opinion);
        on_pool_thread(|| {
            assert_eq!(auth(), AuthDecision::Ignore, "{no_opinion}");
            assert_eq!(acl(), AclDecision::Ignore, "{no_opinion}");
            assert_eq!(publish(), PublishDecision::Continue, "{no_opinion}");
        });
    }
    answer("original", "(0, True)");
    on_pool_thread(|| assert_eq!((auth(), acl()), (AuthDecision::Allow, AclDecision::Allow)));
    answer("original", "(0, False)");
    on_pool_thread(|| assert_eq!((auth(), acl()), (AuthDecision::Deny, AclDecision::Deny)));
    answer("original", "(0, [(Atom(b'topic'), b'new/t'), (Atom(b'payload'), 'text'), (Atom(b'qos'), 2), (Atom(b'node'), b'x')])");
    on_pool_thread(|| {
        assert_eq!(
            publish(),
            PublishDecision::Rewrite(
                MessageRewrite::default()
                    .topic("new/t")
                    .payload(b"text".to_vec())
                    .qos(2)
            )
        )
    });
    answer("original", "(0, [])");
    on_pool_thread(|| assert_eq!(publish(), PublishDecision::Continue));
}

#[test]
fn other_answers_to_the_deciding_hooks_are_failures_that_never_show_secrets() {
    let h = answering("wrong");
    let fails = |python: &str| -> (String, String, String) {
        answer("wrong", python);
        on_pool_thread(|| {
            let f = |r: Option<String>| r.unwrap_or_else(|| format!("{python}: no failure"));
            (
                f(failure(|| {
                    h.on_client_authenticate(
                        &client("c1", None),
                        SO_FAR,
                        &ctx(Hook::ClientAuthenticate),
                    )
                })),
                f(failure(|| {
                    h.on_client_check_acl(
                        &client("c1", None),
                        PubSub::Publish,
                        "t",
                        true,
                        &ctx(Hook::ClientCheckAcl),
                    )
                })),
                f(failure(|| {
                    h.on_message_publish(
                        &message("t/1", b"top secret payload"),
                        &ctx(Hook::MessagePublish),
                    )
                })),
            )
        })
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
}

#[test]
fn answers_the_original_ignored_are_still_ignored() {
    let h = answering("ignored");
    for python in ["True", "(0, True)", "[1, 2]", "'text'"] {
        answer("ignored", python);
        on_pool_thread(|| {
            assert_eq!(
                h.on_client_connect(
                    &conn("c1", None),
                    &Properties::default(),
                    &ctx(Hook::ClientConnect)
                ),
                ConnectDecision::Accept
            );
            assert_eq!(
                h.on_client_subscribe(
                    &client("c1", None),
                    &Properties::default(),
                    "a",
                    &SubOpts::builder().build(),
                    &ctx(Hook::ClientSubscribe)
                ),
                FilterDecision::Keep
            );
            assert_eq!(
                h.on_message_delivered(
                    &client("c1", None),
                    &message("t", b"m"),
                    &ctx(Hook::MessageDelivered)
                ),
                DeliveredDecision::Continue
            );
            h.on_client_connected(
                &client("c1", None),
                &conn("c1", None),
                &ctx(Hook::ClientConnected),
            );
        });
    }
    answer("ignored", "(1, 'broken')");
    let failed = on_pool_thread(|| {
        failure(|| {
            h.on_client_connected(
                &client("c1", None),
                &conn("c1", None),
                &ctx(Hook::ClientConnected),
            )
        })
    });
    assert!(
        failed.is_some_and(|f| f.contains("returned the error \"broken\"")),
        "(1, Reason) fails a notification too"
    );
    answer("ignored", "exhook.drop()");
    let failed = on_pool_thread(|| {
        failure(|| {
            h.on_message_delivered(
                &client("c1", None),
                &message("t", b"m"),
                &ctx(Hook::MessageDelivered),
            )
        })
    });
    assert!(
        failed.is_some_and(|f| f.contains("returned a Drop, which message_delivered cannot take"))
    );
}

#[test]
fn a_decision_that_cannot_be_built_fails_the_call() {
    let h = answering("invalid");
    answer("invalid", "exhook.refuse(0x20)");
    let failed = on_pool_thread(|| {
        failure(|| {
            h.on_client_connect(
                &conn("c1", None),
                &Properties::default(),
                &ctx(Hook::ClientConnect),
            )
        })
    });
    assert!(failed.is_some_and(|f| f.contains("ValueError")));
    answer("invalid", "(0, [(Atom(b'qos'), 7)])");
    let failed = on_pool_thread(|| {
        failure(|| h.on_message_publish(&message("t", b"m"), &ctx(Hook::MessagePublish)))
    });
    assert!(failed.is_some_and(|f| f.contains("the new qos is 7, expected 0, 1 or 2")));
}
