//! Builds the hook's typed views over its arguments, asks the handler, and
//! encodes its decision as the broker's return value; the same for both
//! transports. The views read what the handler reads, when it reads it.

use super::CallError;
use crate::decision::FilterDecision;
use crate::decode;
use crate::encode;
use crate::hook::{Context, Hook, HookSpec};
use crate::types::{ClientInfo, ConnInfo, Message, Properties, Reason, SessionInfo, SubOpts};
use crate::value::{Build, Key, Value};
use crate::Handler;

/// Builds `hook`'s views over `args`, asks the handler, and encodes its
/// decision as the broker's return value. Message hooks are entered only
/// for the topics `spec` lets through.
pub(crate) fn dispatch<'a, B: Build<'a>>(
    b: &B,
    h: &dyn Handler,
    spec: &HookSpec,
    hook: Hook,
    args: B::In,
    ctx: &Context,
) -> Result<B::Out, CallError> {
    let arg = |i: usize| -> Result<B::In, CallError> {
        args.element(i).ok_or_else(|| {
            CallError::BadArg(format!("{}: missing argument {}", hook.name(), i + 1))
        })
    };
    let client = |i: usize| -> Result<ClientInfo<'a>, CallError> {
        Ok(ClientInfo::from_raw(arg(i)?.raw())?)
    };
    let conn =
        |i: usize| -> Result<ConnInfo<'a>, CallError> { Ok(ConnInfo::from_raw(arg(i)?.raw())?) };
    let props = |i: usize| -> Result<Properties<'a>, CallError> {
        Ok(Properties::from_raw(arg(i)?.raw())?)
    };
    let session = |i: usize| -> Result<SessionInfo<'a>, CallError> {
        Ok(SessionInfo::from_raw(arg(i)?.raw())?)
    };
    let message =
        |i: usize| -> Result<Message<'a>, CallError> { Ok(Message::from_raw(arg(i)?.raw())?) };
    let reason =
        |i: usize| -> Result<Reason<'a>, CallError> { Ok(Reason::from_raw(arg(i)?.raw())) };
    if !args.is_tuple() {
        return Err(CallError::BadArg("hook arguments must be a tuple".into()));
    }
    let done = encode::unchanged(b);
    Ok(match hook {
        Hook::ClientConnect => encode::connect(b, h.on_client_connect(&conn(0)?, &props(1)?, ctx)),
        Hook::ClientConnack => {
            let reason = reason(1)?;
            h.on_client_connack(&conn(0)?, &reason.text(), &props(2)?, ctx);
            done
        }
        Hook::ClientConnected => {
            h.on_client_connected(&client(0)?, &conn(1)?, ctx);
            done
        }
        Hook::ClientDisconnected => {
            h.on_client_disconnected(&client(0)?, &reason(1)?, &conn(2)?, ctx);
            done
        }
        Hook::ClientAuthenticate => {
            let acc = arg(1)?;
            let so_far = decode::auth_result(acc)?;
            encode::authenticate(b, acc, h.on_client_authenticate(&client(0)?, so_far, ctx))?
        }
        Hook::ClientCheckAcl => {
            let pubsub = decode::pubsub(arg(1)?)?;
            let topic = decode::topic(arg(2)?)?;
            let so_far = arg(3)?.is(Key::allow);
            encode::check_acl(
                b,
                h.on_client_check_acl(&client(0)?, pubsub, &topic, so_far, ctx),
            )
        }
        Hook::ClientSubscribe => {
            let (client, props) = (client(0)?, props(1)?);
            let filters = decode::topic_filters(arg(2)?)?;
            let mut decisions = Vec::with_capacity(filters.len());
            for (filter, opts) in &filters {
                let topic = decode::topic(*filter)?;
                let opts = SubOpts::from_raw(opts.raw())?;
                let decision = h.on_client_subscribe(&client, &props, &topic, &opts, ctx);
                decisions.push(match decision {
                    FilterDecision::Rewrite(new) if new == topic => FilterDecision::Keep,
                    other => other,
                });
            }
            encode::subscribe(b, &filters, &decisions)?
        }
        Hook::ClientUnsubscribe => {
            let (client, props) = (client(0)?, props(1)?);
            for (filter, _) in decode::topic_filters(arg(2)?)? {
                h.on_client_unsubscribe(&client, &props, &decode::topic(filter)?, ctx);
            }
            done
        }
        Hook::SessionCreated
        | Hook::SessionResumed
        | Hook::SessionDiscarded
        | Hook::SessionTakeovered => {
            let method = match hook {
                Hook::SessionCreated => Handler::on_session_created,
                Hook::SessionResumed => Handler::on_session_resumed,
                Hook::SessionDiscarded => Handler::on_session_discarded,
                _ => Handler::on_session_takeovered,
            };
            method(h, &client(0)?, &session(1)?, ctx);
            done
        }
        Hook::SessionSubscribed | Hook::SessionUnsubscribed => {
            let (client, filter) = (client(0)?, decode::topic(arg(1)?)?);
            let opts = SubOpts::from_raw(arg(2)?.raw())?;
            if hook == Hook::SessionSubscribed {
                h.on_session_subscribed(&client, &filter, &opts, ctx);
            } else {
                h.on_session_unsubscribed(&client, &filter, &opts, ctx);
            }
            done
        }
        Hook::SessionTerminated => {
            h.on_session_terminated(&client(0)?, &reason(1)?, &session(2)?, ctx);
            done
        }
        Hook::MessagePublish => {
            let msg = message(0)?;
            if !spec.wants(hook, &msg.topic()) {
                return Ok(done);
            }
            let decision = h.on_message_publish(&msg, ctx);
            encode::publish(b, &decode::message_fields(arg(0)?)?, &decision)?
        }
        Hook::MessageDelivered => {
            let msg = message(1)?;
            if !spec.wants(hook, &msg.topic()) {
                return Ok(done);
            }
            let decision = h.on_message_delivered(&client(0)?, &msg, ctx);
            encode::delivered(b, &decode::message_fields(arg(1)?)?, &decision)
        }
        Hook::MessageAcked => {
            let msg = message(1)?;
            if spec.wants(hook, &msg.topic()) {
                h.on_message_acked(&client(0)?, &msg, ctx);
            }
            done
        }
        Hook::MessageDropped => {
            let msg = message(0)?;
            if spec.wants(hook, &msg.topic()) {
                let node = dropped_by_node(arg(1)?);
                h.on_message_dropped(&msg, &node, &reason(2)?, ctx);
            }
            done
        }
    })
}

/// The node from `message.dropped`'s `#{node => Node}` argument.
fn dropped_by_node<'a>(term: impl Value<'a>) -> String {
    term.get(Key::node)
        .and_then(decode::text)
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

/// The clientid an event belongs to: its lane in the pool (which keeps
/// one client's events in order), and the name in reports. `None` if the
/// arguments do not carry one.
pub(crate) fn client_term<'a, V: Value<'a>>(hook: Hook, args: V) -> Option<V> {
    let first = args.element(0)?;
    match hook {
        Hook::MessagePublish | Hook::MessageDropped => decode::is_message(first)
            .then(|| first.element(3))
            .flatten(),
        _ => first.get(Key::clientid),
    }
}

/// The bytes of the clientid an event belongs to, the key of its lane;
/// `None` if it has none (or not a binary, as EMQX never passes).
pub(crate) fn client_bytes<'a, V: Value<'a>>(hook: Hook, args: V) -> Option<&'a [u8]> {
    client_term(hook, args)?.binary()
}
