//! Decisions turned into exactly the return value the broker's hook fold
//! expects (see emqx_hooks: `{ok, Acc}` continues with Acc, `{stop, Acc}`
//! ends the chain with Acc, anything else continues unchanged).

use crate::decision::*;
use crate::decode::atoms;
use rustler::types::tuple::make_tuple;
use rustler::{Encoder, Env, OwnedBinary, Term};

/// `ok`: the broker goes on with the accumulator it had.
pub(crate) fn unchanged(env: Env<'_>) -> Term<'_> {
    atoms::ok().encode(env)
}

fn ok_with<'a>(env: Env<'a>, acc: Term<'a>) -> Term<'a> {
    (atoms::ok(), acc).encode(env)
}

fn stop_with<'a>(env: Env<'a>, acc: Term<'a>) -> Term<'a> {
    (atoms::stop(), acc).encode(env)
}

pub(crate) fn binary<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    let mut owned = OwnedBinary::new(bytes.len());
    owned.as_mut_slice().copy_from_slice(bytes);
    owned.release(env).encode(env)
}

/// `client.authenticate`: the accumulator is `#{auth_result, anonymous}`,
/// merged into ClientInfo by the broker on success.
pub(crate) fn authenticate<'a>(
    env: Env<'a>,
    acc: Term<'a>,
    decision: AuthDecision,
) -> rustler::NifResult<Term<'a>> {
    let (result, superuser) = match decision {
        AuthDecision::Ignore => return Ok(unchanged(env)),
        AuthDecision::Allow => (atoms::success(), false),
        AuthDecision::AllowSuperuser => (atoms::success(), true),
        AuthDecision::Deny => (atoms::not_authorized(), false),
    };
    let acc = acc
        .map_put(atoms::auth_result(), result)?
        .map_put(atoms::anonymous(), false)?
        .map_put(atoms::is_superuser(), superuser)?;
    Ok(stop_with(env, acc))
}

pub(crate) fn check_acl(env: Env<'_>, decision: AclDecision) -> Term<'_> {
    match decision {
        AclDecision::Ignore => unchanged(env),
        AclDecision::Allow => stop_with(env, atoms::allow().encode(env)),
        AclDecision::Deny => stop_with(env, atoms::deny().encode(env)),
    }
}

pub(crate) fn connect(env: Env<'_>, decision: ConnectDecision) -> Term<'_> {
    match decision {
        ConnectDecision::Accept => unchanged(env),
        ConnectDecision::Refuse(code) => stop_with(env, (atoms::error(), code.0).encode(env)),
    }
}

/// `client.subscribe`: the new `[{Filter, SubOpts}]`, or `ok` when every
/// filter is kept.
pub(crate) fn subscribe<'a>(
    env: Env<'a>,
    filters: &[(Term<'a>, Term<'a>)],
    decisions: &[FilterDecision],
) -> rustler::NifResult<Term<'a>> {
    if decisions.iter().all(|d| *d == FilterDecision::Keep) {
        return Ok(unchanged(env));
    }
    let mut out = Vec::with_capacity(filters.len());
    for ((filter, opts), decision) in filters.iter().zip(decisions) {
        let item = match decision {
            FilterDecision::Keep => (*filter, *opts),
            FilterDecision::Rewrite(new) => (new.as_str().encode(env), *opts),
            FilterDecision::Deny => (*filter, opts.map_put(atoms::deny_subscription(), true)?),
        };
        out.push(item.encode(env));
    }
    Ok(ok_with(env, out.encode(env)))
}

fn rewrite_message<'a>(env: Env<'a>, fields: &[Term<'a>], r: &MessageRewrite) -> Term<'a> {
    let mut f = fields.to_vec();
    if let Some(qos) = r.qos {
        f[2] = qos.min(2).encode(env);
    }
    if let Some(topic) = &r.topic {
        f[6] = topic.as_str().encode(env);
    }
    if let Some(payload) = &r.payload {
        f[7] = binary(env, payload);
    }
    make_tuple(env, &f)
}

/// `message.publish`: a rewrite goes on down the chain (later hooks such as
/// the retainer and the rule engine must see the message); a drop blocks
/// delivery with `allow_publish => false` and ends the chain.
pub(crate) fn publish<'a>(
    env: Env<'a>,
    fields: &[Term<'a>],
    decision: &PublishDecision,
) -> rustler::NifResult<Term<'a>> {
    Ok(match decision {
        PublishDecision::Continue => unchanged(env),
        PublishDecision::Rewrite(r) => ok_with(env, rewrite_message(env, fields, r)),
        PublishDecision::Drop => {
            let mut f = fields.to_vec();
            f[5] = f[5].map_put(atoms::allow_publish(), false)?;
            stop_with(env, make_tuple(env, &f))
        }
    })
}

pub(crate) fn delivered<'a>(
    env: Env<'a>,
    fields: &[Term<'a>],
    decision: &DeliveredDecision,
) -> Term<'a> {
    match decision {
        DeliveredDecision::Continue => unchanged(env),
        DeliveredDecision::Rewrite(r) => ok_with(env, rewrite_message(env, fields, r)),
    }
}
