package io.emqx.extension.driver;

import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Binary;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.AclDecision;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.DeliveredDecision;
import io.emqx.extension.handler.FilterDecision;
import io.emqx.extension.handler.Hook;
import io.emqx.extension.handler.HookSpec;
import io.emqx.extension.handler.MessageRewrite;
import io.emqx.extension.handler.PublishDecision;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Reason;
import io.emqx.extension.handler.codec.ReturnCode;
import io.emqx.extension.handler.codec.Topic;
import io.emqx.extension.handler.codec.TopicFilter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Decodes a hook's arguments, asks the handler, and encodes its answer as
 * the broker's return value (see {@link Encode}). Message hooks are entered
 * only for the topics the handler's filters let through. Safe to call from
 * many threads at once.
 *
 * <pre>{@code
 * Dispatcher d = new Dispatcher(handler, handler.getHookSpecs(), null);
 * Term result = d.dispatch(Hook.CLIENT_AUTHENTICATE, argsTuple);
 * }</pre>
 */
public final class Dispatcher {

    private static final Term PUBLISH = Term.atom("publish");
    private static final Term SUBSCRIBE = Term.atom("subscribe");

    private final DefaultCommunicationHandler h;
    private final HookSpec[] specs = new HookSpec[Hook.values().length];
    private final String node;

    /**
     * A dispatcher for {@code handler}.
     *
     * @param handler the handler
     * @param hookSpecs the hooks it registered
     * @param node the broker node's name for ClientInfo/Message {@code node}, or null
     */
    public Dispatcher(DefaultCommunicationHandler handler, List<HookSpec> hookSpecs, String node) {
        this.h = handler;
        this.node = node;
        for (HookSpec s : hookSpecs) {
            specs[s.hook().ordinal()] = s;
        }
    }

    /**
     * Whether the handler registered {@code hook}.
     *
     * @param hook the hook
     * @return true if registered
     */
    public boolean handles(Hook hook) {
        return specs[hook.ordinal()] != null;
    }

    /**
     * The clientid an event belongs to (the publisher's for
     * {@code message.publish} and {@code message.dropped}): the key that
     * keeps one client's events in order. Null if there is none.
     *
     * @param hook the hook
     * @param args the arguments
     * @return the clientid term, or null
     */
    public static Term clientKey(Hook hook, Tuple args) {
        if (args.arity() == 0) {
            return null;
        }
        Term first = args.get(0);
        if (hook == Hook.MESSAGE_PUBLISH || hook == Hook.MESSAGE_DROPPED) {
            return first instanceof Tuple t && t.arity() == 9 ? t.get(3) : null;
        }
        return first instanceof ErlMap m ? m.get("clientid") : null;
    }

    /**
     * Runs {@code hook} with {@code args}.
     *
     * @param hook the hook
     * @param args the broker's arguments, accumulator last
     * @return the broker's return value
     * @throws BadArgException if the arguments cannot be decoded, or the
     *     handler did not register the hook
     */
    public Term dispatch(Hook hook, Tuple args) {
        HookSpec spec = specs[hook.ordinal()];
        if (spec == null) {
            throw new BadArgException(hook.brokerName() + ": the handler does not handle this hook");
        }
        if (args.arity() < arity(hook)) {
            throw new BadArgException(hook.brokerName() + ": expected " + arity(hook)
                    + " arguments, got " + args.arity());
        }
        switch (hook) {
            case CLIENT_CONNECT:
                return connect(spec, args);
            case CLIENT_CONNACK:
                h.onClientConnack(Decode.connInfo(args.get(0), node), new ReturnCode(Decode.anyText(args.get(1))),
                        Decode.properties(args.get(2)));
                return Encode.unchanged();
            case CLIENT_CONNECTED:
                h.onClientConnected(client(args));
                return Encode.unchanged();
            case CLIENT_DISCONNECTED:
                h.onClientDisconnected(client(args), reason(args.get(1)));
                return Encode.unchanged();
            case CLIENT_AUTHENTICATE:
                return authenticate(spec, args);
            case CLIENT_CHECK_ACL:
                return checkAcl(spec, args);
            case CLIENT_SUBSCRIBE:
                return subscribe(spec, args);
            case CLIENT_UNSUBSCRIBE:
                h.onClientUnsubscribe(client(args), Decode.properties(args.get(1)), filters(args.get(2)));
                return Encode.unchanged();
            case SESSION_CREATED:
                h.onSessionCreated(client(args));
                return Encode.unchanged();
            case SESSION_SUBSCRIBED:
                h.onSessionSubscribed(client(args), new Topic(Decode.topic(args.get(1))), Decode.subOpts(args.get(2)));
                return Encode.unchanged();
            case SESSION_UNSUBSCRIBED:
                h.onSessionUnsubscribed(client(args), new Topic(Decode.topic(args.get(1))));
                return Encode.unchanged();
            case SESSION_RESUMED:
                h.onSessionResumed(client(args));
                return Encode.unchanged();
            case SESSION_DISCARDED:
                h.onSessionDiscarded(client(args));
                return Encode.unchanged();
            case SESSION_TAKEOVERED:
                h.onSessionTakeovered(client(args));
                return Encode.unchanged();
            case SESSION_TERMINATED:
                h.onSessionTerminated(client(args), reason(args.get(1)));
                return Encode.unchanged();
            case MESSAGE_PUBLISH:
                return publish(spec, args);
            case MESSAGE_DELIVERED:
                return delivered(spec, args);
            case MESSAGE_ACKED:
                return acked(spec, args);
            default:
                return dropped(spec, args);
        }
    }

    /** How many arguments the broker passes each hook (the accumulator included). */
    static int arity(Hook hook) {
        switch (hook) {
            case MESSAGE_PUBLISH:
                return 1;
            case CLIENT_CONNECT:
            case CLIENT_CONNECTED:
            case CLIENT_AUTHENTICATE:
            case SESSION_CREATED:
            case SESSION_RESUMED:
            case SESSION_DISCARDED:
            case SESSION_TAKEOVERED:
            case MESSAGE_DELIVERED:
            case MESSAGE_ACKED:
                return 2;
            case CLIENT_CHECK_ACL:
                return 4;
            default:
                return 3;
        }
    }

    private ClientInfo client(Tuple args) {
        return Decode.clientInfo(args.get(0), node);
    }

    private static Reason reason(Term t) {
        return new Reason(Decode.anyText(t));
    }

    private static TopicFilter[] filters(Term t) {
        List<Tuple> pairs = Decode.filterPairs(t);
        TopicFilter[] out = new TopicFilter[pairs.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = Decode.topicFilter(pairs.get(i));
        }
        return out;
    }

    private Term connect(HookSpec spec, Tuple args) {
        var conn = Decode.connInfo(args.get(0), node);
        Property[] props = Decode.properties(args.get(1));
        if (!spec.typed()) {
            h.onClientConnect(conn, props);
            return Encode.unchanged();
        }
        return Encode.connect(Objects.requireNonNull(h.decideClientConnect(conn, props), "decideClientConnect returned null"));
    }

    private Term authenticate(HookSpec spec, Tuple args) {
        ClientInfo client = client(args);
        Term acc = args.get(1);
        boolean soFar = Encode.SUCCESS.equals(Decode.map("client.authenticate accumulator", acc).get("auth_result"));
        AuthDecision d;
        if (spec.typed()) {
            d = Objects.requireNonNull(h.decideClientAuthenticate(client, soFar), "decideClientAuthenticate returned null");
        } else {
            d = h.onClientAuthenticate(client, soFar) ? AuthDecision.ALLOW : AuthDecision.DENY;
        }
        return Encode.authenticate(acc, d);
    }

    private Term checkAcl(HookSpec spec, Tuple args) {
        ClientInfo client = client(args);
        Term pubsub = args.get(1);
        if (!PUBLISH.equals(pubsub) && !SUBSCRIBE.equals(pubsub)) {
            throw new BadArgException("publish | subscribe: got " + Decode.render(pubsub));
        }
        PubSub ps = new PubSub(Decode.text(pubsub));
        Topic topic = new Topic(Decode.topic(args.get(2)));
        boolean soFar = Encode.ALLOW.equals(args.get(3));
        AclDecision d;
        if (spec.typed()) {
            d = Objects.requireNonNull(h.decideClientCheckAcl(client, ps, topic, soFar), "decideClientCheckAcl returned null");
        } else {
            d = h.onClientCheckAcl(client, ps, topic, soFar) ? AclDecision.ALLOW : AclDecision.DENY;
        }
        return Encode.checkAcl(d);
    }

    private Term subscribe(HookSpec spec, Tuple args) {
        ClientInfo client = client(args);
        Property[] props = Decode.properties(args.get(1));
        List<Tuple> pairs = Decode.filterPairs(args.get(2));
        if (!spec.typed()) {
            h.onClientSubscribe(client, props, filters(args.get(2)));
            return Encode.unchanged();
        }
        List<FilterDecision> decisions = new ArrayList<>(pairs.size());
        for (Tuple pair : pairs) {
            TopicFilter filter = Decode.topicFilter(pair);
            FilterDecision d = Objects.requireNonNull(h.decideClientSubscribe(client, props, filter),
                    "decideClientSubscribe returned null");
            boolean same = d.kind() == FilterDecision.Kind.REWRITE && d.filter().equals(filter.topic);
            decisions.add(same ? FilterDecision.keep() : d);
        }
        return Encode.subscribe(pairs, decisions);
    }

    private Term publish(HookSpec spec, Tuple args) {
        Tuple record = Decode.messageRecord(args.get(0));
        if (!spec.wants(Decode.topic(record.get(6)))) {
            return Encode.unchanged();
        }
        Message msg = Decode.message(record, node);
        if (spec.typed()) {
            return Encode.publish(record, Objects.requireNonNull(h.decideMessagePublish(msg), "decideMessagePublish returned null"));
        }
        Message out = h.onMessagePublish(msg);
        MessageRewrite r = out == null ? null : changes(record, out);
        return r == null ? Encode.unchanged() : Encode.publish(record, PublishDecision.rewrite(r));
    }

    /** What the original-style handler changed: topic, QoS, payload. Null if nothing. */
    static MessageRewrite changes(Tuple record, Message out) {
        MessageRewrite r = new MessageRewrite();
        if (out.topic != null && !out.topic.equals(Decode.text(record.get(6)))) {
            r.topic(out.topic);
        }
        if (out.qos != Decode.integer(record.get(2), 0)) {
            r.qos(out.qos);
        }
        if (out.payload != null && !Arrays.equals(out.payload, ((Binary) record.get(7)).bytes())) {
            r.payload(out.payload);
        }
        return r.isEmpty() ? null : r;
    }

    private Term delivered(HookSpec spec, Tuple args) {
        Tuple record = Decode.messageRecord(args.get(1));
        if (!spec.wants(Decode.topic(record.get(6)))) {
            return Encode.unchanged();
        }
        ClientInfo client = client(args);
        Message msg = Decode.message(record, node);
        if (!spec.typed()) {
            h.onMessageDelivered(client, msg);
            return Encode.unchanged();
        }
        DeliveredDecision d = Objects.requireNonNull(h.decideMessageDelivered(client, msg), "decideMessageDelivered returned null");
        return Encode.delivered(record, d);
    }

    private Term acked(HookSpec spec, Tuple args) {
        Tuple record = Decode.messageRecord(args.get(1));
        if (spec.wants(Decode.topic(record.get(6)))) {
            h.onMessageAcked(client(args), Decode.message(record, node));
        }
        return Encode.unchanged();
    }

    private Term dropped(HookSpec spec, Tuple args) {
        Tuple record = Decode.messageRecord(args.get(0));
        if (spec.wants(Decode.topic(record.get(6)))) {
            String by = args.get(1) instanceof ErlMap m ? Decode.text(m.get("node")) : null;
            h.onMessageDropped(Decode.message(record, by != null ? by : node), reason(args.get(2)));
        }
        return Encode.unchanged();
    }
}
