//! Decodes a hook's arguments, asks the handler, and encodes its decision
//! as the broker's return value; the same for both transports.

use super::CallError;
use crate::decision::FilterDecision;
use crate::decode;
use crate::encode;
use crate::hook::{Context, Hook, HookSpec};
use crate::value::{Build, Key, Value};
use crate::Handler;

/// Decodes `args` for `hook`, asks the handler, and encodes its decision
/// as the broker's return value. Message hooks are entered only for the
/// topics `spec` lets through.
pub(crate) fn dispatch<'a, B: Build<'a>>(
    b: &B,
    h: &dyn Handler,
    spec: &HookSpec,
    hook: Hook,
    args: B::In,
    ctx: &Context,
) -> Result<B::Out, CallError> {
    let a = args
        .elements()
        .ok_or_else(|| CallError::BadArg("hook arguments must be a tuple".into()))?;
    let arg = |i: usize| -> Result<B::In, CallError> {
        a.get(i).copied().ok_or_else(|| {
            CallError::BadArg(format!("{}: missing argument {}", hook.name(), i + 1))
        })
    };
    let done = encode::unchanged(b);
    Ok(match hook {
        Hook::ClientConnect => {
            let conn = decode::conn_info(arg(0)?)?;
            let props = decode::properties(arg(1)?)?;
            encode::connect(b, h.on_client_connect(&conn, &props, ctx))
        }
        Hook::ClientConnack => {
            let conn = decode::conn_info(arg(0)?)?;
            let reason = decode::reason(arg(1)?);
            let props = decode::properties(arg(2)?)?;
            h.on_client_connack(&conn, reason.as_str(), &props, ctx);
            done
        }
        Hook::ClientConnected => {
            h.on_client_connected(
                &decode::client_info(arg(0)?)?,
                &decode::conn_info(arg(1)?)?,
                ctx,
            );
            done
        }
        Hook::ClientDisconnected => {
            let client = decode::client_info(arg(0)?)?;
            let reason = decode::reason(arg(1)?);
            h.on_client_disconnected(&client, &reason, &decode::conn_info(arg(2)?)?, ctx);
            done
        }
        Hook::ClientAuthenticate => {
            let client = decode::client_info(arg(0)?)?;
            let acc = arg(1)?;
            let so_far = decode::auth_result(acc)?;
            encode::authenticate(b, acc, h.on_client_authenticate(&client, so_far, ctx))?
        }
        Hook::ClientCheckAcl => {
            let client = decode::client_info(arg(0)?)?;
            let pubsub = decode::pubsub(arg(1)?)?;
            let topic = decode::topic(arg(2)?)?;
            let so_far = arg(3)?.is(Key::allow);
            encode::check_acl(
                b,
                h.on_client_check_acl(&client, pubsub, &topic, so_far, ctx),
            )
        }
        Hook::ClientSubscribe => {
            let client = decode::client_info(arg(0)?)?;
            let props = decode::properties(arg(1)?)?;
            let filters = decode::topic_filters(arg(2)?)?;
            let mut decisions = Vec::with_capacity(filters.len());
            for (filter, opts) in &filters {
                let (filter, opts) = (decode::topic(*filter)?, decode::sub_opts(*opts)?);
                let decision = h.on_client_subscribe(&client, &props, &filter, &opts, ctx);
                decisions.push(match decision {
                    FilterDecision::Rewrite(new) if new == filter => FilterDecision::Keep,
                    other => other,
                });
            }
            encode::subscribe(b, &filters, &decisions)?
        }
        Hook::ClientUnsubscribe => {
            let client = decode::client_info(arg(0)?)?;
            let props = decode::properties(arg(1)?)?;
            for (filter, _) in decode::topic_filters(arg(2)?)? {
                h.on_client_unsubscribe(&client, &props, &decode::topic(filter)?, ctx);
            }
            done
        }
        Hook::SessionCreated
        | Hook::SessionResumed
        | Hook::SessionDiscarded
        | Hook::SessionTakeovered => {
            let client = decode::client_info(arg(0)?)?;
            let session = decode::session_info(arg(1)?)?;
            let method = match hook {
                Hook::SessionCreated => Handler::on_session_created,
                Hook::SessionResumed => Handler::on_session_resumed,
                Hook::SessionDiscarded => Handler::on_session_discarded,
                _ => Handler::on_session_takeovered,
            };
            method(h, &client, &session, ctx);
            done
        }
        Hook::SessionSubscribed | Hook::SessionUnsubscribed => {
            let client = decode::client_info(arg(0)?)?;
            let filter = decode::topic(arg(1)?)?;
            let opts = decode::sub_opts(arg(2)?)?;
            if hook == Hook::SessionSubscribed {
                h.on_session_subscribed(&client, &filter, &opts, ctx);
            } else {
                h.on_session_unsubscribed(&client, &filter, &opts, ctx);
            }
            done
        }
        Hook::SessionTerminated => {
            let client = decode::client_info(arg(0)?)?;
            let reason = decode::reason(arg(1)?);
            h.on_session_terminated(&client, &reason, &decode::session_info(arg(2)?)?, ctx);
            done
        }
        Hook::MessagePublish => {
            let msg_term = arg(0)?;
            if !spec.wants(hook, &decode::message_topic(msg_term)?) {
                return Ok(done);
            }
            let fields = decode::message_fields(msg_term)?;
            let decision = h.on_message_publish(&decode::message(msg_term)?, ctx);
            encode::publish(b, &fields, &decision)?
        }
        Hook::MessageDelivered => {
            let msg_term = arg(1)?;
            if !spec.wants(hook, &decode::message_topic(msg_term)?) {
                return Ok(done);
            }
            let client = decode::client_info(arg(0)?)?;
            let fields = decode::message_fields(msg_term)?;
            let decision = h.on_message_delivered(&client, &decode::message(msg_term)?, ctx);
            encode::delivered(b, &fields, &decision)
        }
        Hook::MessageAcked => {
            let msg_term = arg(1)?;
            if spec.wants(hook, &decode::message_topic(msg_term)?) {
                h.on_message_acked(
                    &decode::client_info(arg(0)?)?,
                    &decode::message(msg_term)?,
                    ctx,
                );
            }
            done
        }
        Hook::MessageDropped => {
            let msg_term = arg(0)?;
            if spec.wants(hook, &decode::message_topic(msg_term)?) {
                let node = dropped_by_node(arg(1)?);
                let reason = decode::reason(arg(2)?);
                h.on_message_dropped(&decode::message(msg_term)?, &node, &reason, ctx);
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
    let first = *args.elements()?.first()?;
    match hook {
        Hook::MessagePublish | Hook::MessageDropped => {
            decode::message_fields(first).ok().map(|f| f[3])
        }
        _ => first.get(Key::clientid),
    }
}

/// The bytes of the clientid an event belongs to, the key of its lane;
/// `None` if it has none (or not a binary, as EMQX never passes).
pub(crate) fn client_bytes<'a, V: Value<'a>>(hook: Hook, args: V) -> Option<&'a [u8]> {
    client_term(hook, args)?.binary()
}
