//! Decisions turned into exactly the return value the broker's hook fold
//! expects (see emqx_hooks: `{ok, Acc}` continues with Acc, `{stop, Acc}`
//! ends the chain with Acc, anything else continues unchanged), for either
//! transport (see [`Build`]).

use crate::decision::*;
use crate::value::{Build, Key};

/// Why a decision could not be encoded: an argument it builds on had the
/// wrong shape.
pub(crate) struct EncodeError(pub &'static str);

type Encoded<T> = Result<T, EncodeError>;

/// `ok`: the broker goes on with the accumulator it had.
pub(crate) fn unchanged<'a, B: Build<'a>>(b: &B) -> B::Out {
    b.atom(Key::ok)
}

fn ok_with<'a, B: Build<'a>>(b: &B, acc: B::Out) -> B::Out {
    b.tuple(&[b.atom(Key::ok), acc])
}

fn stop_with<'a, B: Build<'a>>(b: &B, acc: B::Out) -> B::Out {
    b.tuple(&[b.atom(Key::stop), acc])
}

fn put<'a, B: Build<'a>>(
    b: &B,
    map: B::Out,
    key: Key,
    value: B::Out,
    what: &'static str,
) -> Encoded<B::Out> {
    b.map_put(map, key, value).ok_or(EncodeError(what))
}

/// `client.authenticate`: the accumulator is `#{auth_result, anonymous}`,
/// merged into ClientInfo by the broker on success.
pub(crate) fn authenticate<'a, B: Build<'a>>(
    b: &B,
    acc: B::In,
    decision: AuthDecision,
) -> Encoded<B::Out> {
    let (result, superuser) = match decision {
        AuthDecision::Ignore => return Ok(unchanged(b)),
        AuthDecision::Allow => (Key::success, false),
        AuthDecision::AllowSuperuser => (Key::success, true),
        AuthDecision::Deny => (Key::not_authorized, false),
    };
    let what = "client.authenticate accumulator is not a map";
    let acc = put(b, b.input(acc), Key::auth_result, b.atom(result), what)?;
    let acc = put(b, acc, Key::anonymous, b.boolean(false), what)?;
    let acc = put(b, acc, Key::is_superuser, b.boolean(superuser), what)?;
    Ok(stop_with(b, acc))
}

pub(crate) fn check_acl<'a, B: Build<'a>>(b: &B, decision: AclDecision) -> B::Out {
    match decision {
        AclDecision::Ignore => unchanged(b),
        AclDecision::Allow => stop_with(b, b.atom(Key::allow)),
        AclDecision::Deny => stop_with(b, b.atom(Key::deny)),
    }
}

pub(crate) fn connect<'a, B: Build<'a>>(b: &B, decision: ConnectDecision) -> B::Out {
    match decision {
        ConnectDecision::Accept => unchanged(b),
        ConnectDecision::Refuse(code) => {
            stop_with(b, b.tuple(&[b.atom(Key::error), b.int(i64::from(code.0))]))
        }
    }
}

/// `client.subscribe`: the new `[{Filter, SubOpts}]`, or `ok` when every
/// filter is kept.
pub(crate) fn subscribe<'a, B: Build<'a>>(
    b: &B,
    filters: &[(B::In, B::In)],
    decisions: &[FilterDecision],
) -> Encoded<B::Out> {
    if decisions.iter().all(|d| *d == FilterDecision::Keep) {
        return Ok(unchanged(b));
    }
    let mut out = Vec::with_capacity(filters.len());
    for ((filter, opts), decision) in filters.iter().zip(decisions) {
        let (filter, opts) = (b.input(*filter), b.input(*opts));
        let item = match decision {
            FilterDecision::Keep => [filter, opts],
            FilterDecision::Rewrite(new) => [b.binary(new.as_bytes()), opts],
            FilterDecision::Deny => [
                filter,
                put(
                    b,
                    opts,
                    Key::deny_subscription,
                    b.boolean(true),
                    "SubOpts is not a map",
                )?,
            ],
        };
        out.push(b.tuple(&item));
    }
    Ok(ok_with(b, b.list(&out)))
}

fn rewrite_message<'a, B: Build<'a>>(b: &B, fields: &[B::In], r: &MessageRewrite) -> B::Out {
    let mut f: Vec<B::Out> = fields.iter().map(|v| b.input(*v)).collect();
    if let Some(qos) = r.qos {
        f[2] = b.int(i64::from(qos.min(2)));
    }
    if let Some(topic) = &r.topic {
        f[6] = b.binary(topic.as_bytes());
    }
    if let Some(payload) = &r.payload {
        f[7] = b.binary(payload);
    }
    b.tuple(&f)
}

/// `message.publish`: a rewrite goes on down the chain (later hooks such as
/// the retainer and the rule engine must see the message); a drop blocks
/// delivery with `allow_publish => false` and ends the chain.
pub(crate) fn publish<'a, B: Build<'a>>(
    b: &B,
    fields: &[B::In],
    decision: &PublishDecision,
) -> Encoded<B::Out> {
    Ok(match decision {
        PublishDecision::Continue => unchanged(b),
        PublishDecision::Rewrite(r) => ok_with(b, rewrite_message(b, fields, r)),
        PublishDecision::Drop => {
            let mut f: Vec<B::Out> = fields.iter().map(|v| b.input(*v)).collect();
            f[5] = put(
                b,
                f[5].clone(),
                Key::allow_publish,
                b.boolean(false),
                "message headers are not a map",
            )?;
            stop_with(b, b.tuple(&f))
        }
    })
}

pub(crate) fn delivered<'a, B: Build<'a>>(
    b: &B,
    fields: &[B::In],
    decision: &DeliveredDecision,
) -> B::Out {
    match decision {
        DeliveredDecision::Continue => unchanged(b),
        DeliveredDecision::Rewrite(r) => ok_with(b, rewrite_message(b, fields, r)),
    }
}
