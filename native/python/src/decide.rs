//! What a hook's return value means, hook by hook.
//!
//! Everywhere: `None` (or the atoms `ok` / `undefined`) is no opinion, and
//! `(1, Reason)` a failure. The original's three decisions: `(0, True|False)`
//! from authenticate and check_acl, `(0, proplist)` from message_publish.
//! The `exhook` module's decisions where they fit. For the hooks whose
//! answer the original ignored, any other answer is ignored too (noted at
//! debug level), so that handlers written for it keep working; for the
//! three it read, any other answer is a failure.

use crate::hookargs::Terms;
use emqx_extension_sdk::{
    AclDecision, AuthDecision, ConnectDecision, DeliveredDecision, FilterDecision, MessageRewrite,
    PublishDecision, ReasonCode,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString, PyTuple};

/// A return value, sorted.
pub(crate) enum Answer<'py> {
    /// `None`, `ok`, `undefined`.
    NoOpinion,
    /// `(0, Value)`.
    Ok(Bound<'py, PyAny>),
    /// An `exhook` decision.
    Decision(Bound<'py, PyAny>),
    /// Anything else.
    Other(Bound<'py, PyAny>),
}

/// Why a call has no decision: the text for the failure report.
pub(crate) type Failure = String;

/// Sorts `result`; `(1, Reason)` is a failure.
pub(crate) fn classify<'py>(result: Bound<'py, PyAny>) -> Result<Answer<'py>, Failure> {
    if result.is_none() {
        return Ok(Answer::NoOpinion);
    }
    if let Ok(b) = result.cast::<PyBytes>() {
        if matches!(b.as_bytes(), b"ok" | b"undefined") {
            return Ok(Answer::NoOpinion);
        }
        return Ok(Answer::Other(result));
    }
    if let Ok(t) = result.cast_exact::<PyTuple>() {
        if t.len() == 2 {
            let code = t.get_item(0).map_err(|e| e.to_string())?;
            if code.is_exact_instance_of::<PyInt>() {
                match code.extract::<i64>() {
                    Ok(0) => return Ok(Answer::Ok(t.get_item(1).map_err(|e| e.to_string())?)),
                    Ok(1) => {
                        let reason = t.get_item(1).map_err(|e| e.to_string())?;
                        return Err(format!("returned the error {}", reason_text(&reason)));
                    }
                    _ => {}
                }
            }
        }
    }
    let py = result.py();
    if result
        .is_instance(Terms::get().decision.bind(py))
        .unwrap_or(false)
    {
        return Ok(Answer::Decision(result));
    }
    Ok(Answer::Other(result))
}

/// A user's error reason for the log: text as it is (cut), other values by shape.
fn reason_text(reason: &Bound<'_, PyAny>) -> String {
    let text = if let Ok(s) = reason.cast::<PyString>() {
        s.to_string_lossy().into_owned()
    } else if let Ok(b) = reason.cast::<PyBytes>() {
        String::from_utf8_lossy(b.as_bytes()).into_owned()
    } else {
        return describe(reason);
    };
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}", &text[..end])
}

/// The shape of `value`, never its text (it may hold a password or a payload).
pub(crate) fn describe(value: &Bound<'_, PyAny>) -> String {
    let py = value.py();
    Terms::get()
        .describe
        .bind(py)
        .call1((value,))
        .and_then(|d| d.extract::<String>())
        .unwrap_or_else(|_| "a value that cannot be described".into())
}

fn unexpected(value: &Bound<'_, PyAny>, expected: &str) -> Failure {
    format!("returned {}; expected {expected}", describe(value))
}

fn is<'py>(value: &Bound<'py, PyAny>, class: &Py<pyo3::types::PyType>) -> bool {
    value.is_instance(class.bind(value.py())).unwrap_or(false)
}

fn wrong_hook(decision: &Bound<'_, PyAny>, hook: &str) -> Failure {
    format!("returned {}, which {hook} cannot take", describe(decision))
}

const BOOL: &str = "None, (0, True|False) or (1, Reason)";

fn boolean<'py>(answer: Answer<'py>, hook: &str) -> Result<Option<bool>, Failure> {
    match answer {
        Answer::NoOpinion => Ok(None),
        Answer::Ok(v) if v.is_exact_instance_of::<pyo3::types::PyBool>() => {
            Ok(Some(v.is_truthy().unwrap_or(false)))
        }
        Answer::Ok(v) => Err(format!("returned (0, {}); expected {BOOL}", describe(&v))),
        Answer::Decision(d) => Err(wrong_hook(&d, hook)),
        Answer::Other(v) => Err(unexpected(&v, BOOL)),
    }
}

/// `client_authenticate`: `(0, True)` lets the client in, `(0, False)`
/// refuses it, `exhook.allow_superuser()` lets it in as a superuser.
pub(crate) fn authenticate(answer: Answer<'_>) -> Result<AuthDecision, Failure> {
    if let Answer::Decision(d) = &answer {
        if is(d, &Terms::get().allow_superuser) {
            return Ok(AuthDecision::AllowSuperuser);
        }
    }
    Ok(match boolean(answer, "client_authenticate")? {
        None => AuthDecision::Ignore,
        Some(true) => AuthDecision::Allow,
        Some(false) => AuthDecision::Deny,
    })
}

/// `client_check_acl`: `(0, True)` allows, `(0, False)` denies.
pub(crate) fn check_acl(answer: Answer<'_>) -> Result<AclDecision, Failure> {
    Ok(match boolean(answer, "client_check_acl")? {
        None => AclDecision::Ignore,
        Some(true) => AclDecision::Allow,
        Some(false) => AclDecision::Deny,
    })
}

const PUBLISH: &str =
    "None, (0, [(Atom(b'topic'|b'payload'|b'qos'), Value), ...]), exhook.drop(), exhook.rewrite(...) or (1, Reason)";

/// `message_publish`: `(0, proplist)` or `exhook.rewrite(...)` rewrites,
/// `exhook.drop()` drops.
pub(crate) fn publish(answer: Answer<'_>) -> Result<PublishDecision, Failure> {
    let t = Terms::get();
    match answer {
        Answer::NoOpinion => Ok(PublishDecision::Continue),
        Answer::Ok(fields) => Ok(match rewrite_from_proplist(&fields)? {
            r if r == MessageRewrite::default() => PublishDecision::Continue,
            r => PublishDecision::Rewrite(r),
        }),
        Answer::Decision(d) if is(&d, &t.drop) => Ok(PublishDecision::Drop),
        Answer::Decision(d) if is(&d, &t.rewrite) => {
            Ok(PublishDecision::Rewrite(rewrite_from_decision(&d)?))
        }
        Answer::Decision(d) => Err(wrong_hook(&d, "message_publish")),
        Answer::Other(v) => Err(unexpected(&v, PUBLISH)),
    }
}

/// `message_delivered`: `exhook.rewrite(...)` changes what this subscriber gets.
pub(crate) fn delivered(
    answer: Answer<'_>,
) -> Result<(DeliveredDecision, Option<Bound<'_, PyAny>>), Failure> {
    let t = Terms::get();
    match answer {
        Answer::Decision(d) if is(&d, &t.rewrite) => {
            Ok((DeliveredDecision::Rewrite(rewrite_from_decision(&d)?), None))
        }
        Answer::Decision(d) => Err(wrong_hook(&d, "message_delivered")),
        Answer::NoOpinion => Ok((DeliveredDecision::Continue, None)),
        Answer::Ok(v) | Answer::Other(v) => Ok((DeliveredDecision::Continue, Some(v))),
    }
}

/// `client_connect`: `exhook.refuse(code)` refuses the connection.
pub(crate) fn connect(
    answer: Answer<'_>,
) -> Result<(ConnectDecision, Option<Bound<'_, PyAny>>), Failure> {
    let t = Terms::get();
    match answer {
        Answer::Decision(d) if is(&d, &t.refuse) => {
            let code: u8 = d
                .getattr("reason_code")
                .and_then(|c| c.extract())
                .map_err(|_| {
                    format!("returned {}, whose reason_code is not 0..255", describe(&d))
                })?;
            Ok((ConnectDecision::Refuse(ReasonCode(code)), None))
        }
        Answer::Decision(d) => Err(wrong_hook(&d, "client_connect")),
        Answer::NoOpinion => Ok((ConnectDecision::Accept, None)),
        Answer::Ok(v) | Answer::Other(v) => Ok((ConnectDecision::Accept, Some(v))),
    }
}

/// `client_subscribe`, for one filter: `exhook.deny()` refuses it,
/// `exhook.rewrite_filter(f)` subscribes to `f` instead.
pub(crate) fn subscribe(
    answer: Answer<'_>,
) -> Result<(FilterDecision, Option<Bound<'_, PyAny>>), Failure> {
    let t = Terms::get();
    match answer {
        Answer::Decision(d) if is(&d, &t.deny_filter) => Ok((FilterDecision::Deny, None)),
        Answer::Decision(d) if is(&d, &t.rewrite_filter) => {
            let filter: String = d
                .getattr("topic_filter")
                .and_then(|f| f.extract())
                .map_err(|_| format!("returned {} without a text topic_filter", describe(&d)))?;
            Ok((FilterDecision::Rewrite(filter), None))
        }
        Answer::Decision(d) => Err(wrong_hook(&d, "client_subscribe")),
        Answer::NoOpinion => Ok((FilterDecision::Keep, None)),
        Answer::Ok(v) | Answer::Other(v) => Ok((FilterDecision::Keep, Some(v))),
    }
}

/// The notification hooks: the answer is ignored (a decision is a mistake).
pub(crate) fn notification<'py>(
    answer: Answer<'py>,
    hook: &str,
) -> Result<Option<Bound<'py, PyAny>>, Failure> {
    match answer {
        Answer::NoOpinion => Ok(None),
        Answer::Decision(d) => Err(wrong_hook(&d, hook)),
        Answer::Ok(v) | Answer::Other(v) => Ok(Some(v)),
    }
}

fn text_field(value: &Bound<'_, PyAny>, field: &str) -> Result<String, Failure> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| format!("the new {field} is not UTF-8"));
    }
    value.extract::<String>().map_err(|_| {
        format!(
            "the new {field} is {}, expected bytes or str",
            describe(value)
        )
    })
}

fn payload_field(value: &Bound<'_, PyAny>) -> Result<Vec<u8>, Failure> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    value
        .extract::<String>()
        .map(String::into_bytes)
        .map_err(|_| {
            format!(
                "the new payload is {}, expected bytes or str",
                describe(value)
            )
        })
}

fn qos_field(value: &Bound<'_, PyAny>) -> Result<u8, Failure> {
    match value.extract::<u8>() {
        Ok(q) if q <= 2 && !value.is_exact_instance_of::<pyo3::types::PyBool>() => Ok(q),
        _ => Err(format!(
            "the new qos is {}, expected 0, 1 or 2",
            describe(value)
        )),
    }
}

/// The original's rewrite: a list of `(key, value)` with keys `topic`,
/// `payload`, `qos` (as Atom, bytes or str); other keys are left alone, as
/// the fields of a message returned whole.
fn rewrite_from_proplist(fields: &Bound<'_, PyAny>) -> Result<MessageRewrite, Failure> {
    let not_a_list = || format!("returned (0, {}); expected {PUBLISH}", describe(fields));
    if !(fields.is_instance_of::<PyList>() || fields.is_instance_of::<PyTuple>()) {
        return Err(not_a_list());
    }
    let items = fields.try_iter().map_err(|_| not_a_list())?;
    let mut rewrite = MessageRewrite::default();
    for item in items {
        let item = item.map_err(|e| e.to_string())?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                format!(
                    "the message rewrite holds {}, expected (key, value)",
                    describe(&item)
                )
            })?;
        let (key, value) = (
            pair.get_item(0).map_err(|e| e.to_string())?,
            pair.get_item(1).map_err(|e| e.to_string())?,
        );
        let key = match key.cast::<PyBytes>() {
            Ok(b) => String::from_utf8_lossy(b.as_bytes()).into_owned(),
            Err(_) => key.extract::<String>().unwrap_or_default(),
        };
        match key.as_str() {
            "topic" => rewrite.topic = Some(text_field(&value, "topic")?),
            "payload" => rewrite.payload = Some(payload_field(&value)?),
            "qos" => rewrite.qos = Some(qos_field(&value)?),
            _ => {}
        }
    }
    Ok(rewrite)
}

fn rewrite_from_decision(d: &Bound<'_, PyAny>) -> Result<MessageRewrite, Failure> {
    let field = |name: &str| d.getattr(name).map_err(|e| e.to_string());
    let mut rewrite = MessageRewrite::default();
    let (topic, payload, qos) = (field("topic")?, field("payload")?, field("qos")?);
    if !topic.is_none() {
        rewrite.topic = Some(text_field(&topic, "topic")?);
    }
    if !payload.is_none() {
        rewrite.payload = Some(payload_field(&payload)?);
    }
    if !qos.is_none() {
        rewrite.qos = Some(qos_field(&qos)?);
    }
    Ok(rewrite)
}
