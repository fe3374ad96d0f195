package io.emqx.extension.driver;

import static io.emqx.extension.driver.Samples.args;
import static io.emqx.extension.driver.Samples.atom;
import static io.emqx.extension.driver.Samples.authAcc;
import static io.emqx.extension.driver.Samples.authClientInfo;
import static io.emqx.extension.driver.Samples.bin;
import static io.emqx.extension.driver.Samples.clientInfo;
import static io.emqx.extension.driver.Samples.connInfo;
import static io.emqx.extension.driver.Samples.list;
import static io.emqx.extension.driver.Samples.map;
import static io.emqx.extension.driver.Samples.message;
import static io.emqx.extension.driver.Samples.num;
import static io.emqx.extension.driver.Samples.subOpts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.AclDecision;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.DeliveredDecision;
import io.emqx.extension.handler.FilterDecision;
import io.emqx.extension.handler.Hook;
import io.emqx.extension.handler.MessageRewrite;
import io.emqx.extension.handler.PublishDecision;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Topic;
import io.emqx.extension.handler.codec.TopicFilter;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Each decision becomes the exact term the Rust SDK's encode.rs builds. */
class DispatcherTest {

    private static final Term STOP = atom("stop");

    private static Dispatcher dispatcher(DefaultCommunicationHandler h) {
        return new Dispatcher(h, h.getHookSpecs(), "emqx@127.0.0.1");
    }

    private static Dispatcher gatekeeper() throws Exception {
        return dispatcher((DefaultCommunicationHandler) Class.forName("Gatekeeper").getDeclaredConstructor().newInstance());
    }

    static final class Auth extends DefaultCommunicationHandler {
        final AuthDecision answer;
        ClientInfo seen;
        boolean soFar;

        Auth(AuthDecision answer) {
            this.answer = answer;
        }

        @Override
        public AuthDecision decideClientAuthenticate(ClientInfo c, boolean so) {
            seen = c;
            soFar = so;
            return answer;
        }
    }

    @Test
    void authenticatePutsTheResultIntoTheAccumulatorAndStops() {
        Tuple a = args(authClientInfo("c1", "good"), authAcc());
        assertEquals(Term.tuple(STOP, map("anonymous", Term.FALSE, "auth_result", atom("success"),
                "is_superuser", Term.FALSE)), dispatcher(new Auth(AuthDecision.ALLOW)).dispatch(Hook.CLIENT_AUTHENTICATE, a));
        assertEquals(Term.tuple(STOP, map("anonymous", Term.FALSE, "auth_result", atom("success"),
                "is_superuser", Term.TRUE)), dispatcher(new Auth(AuthDecision.ALLOW_SUPERUSER)).dispatch(Hook.CLIENT_AUTHENTICATE, a));
        assertEquals(Term.tuple(STOP, map("anonymous", Term.FALSE, "auth_result", atom("not_authorized"),
                "is_superuser", Term.FALSE)), dispatcher(new Auth(AuthDecision.DENY)).dispatch(Hook.CLIENT_AUTHENTICATE, a));
        Auth ignore = new Auth(AuthDecision.IGNORE);
        assertEquals(Term.OK, dispatcher(ignore).dispatch(Hook.CLIENT_AUTHENTICATE, a));
        assertEquals("secret", ignore.seen.password);
        assertEquals("127.0.0.1", ignore.seen.peerHost);
        assertEquals("emqx@127.0.0.1", ignore.seen.node);
        assertTrue(ignore.soFar);
        // The accumulator must be a map, whatever the decision.
        assertThrows(BadArgException.class,
                () -> dispatcher(ignore).dispatch(Hook.CLIENT_AUTHENTICATE, args(authClientInfo("c", "u"), atom("x"))));
    }

    @Test
    void originalBooleansAllowOrDeny() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public boolean onClientAuthenticate(ClientInfo c, boolean so) {
                return !c.clientId.isEmpty();
            }

            @Override
            public boolean onClientCheckAcl(ClientInfo c, PubSub p, Topic t, boolean so) {
                return c.userName != null;
            }
        };
        Dispatcher d = dispatcher(h);
        assertEquals(atom("success"), ((Term.ErlMap) ((Tuple) d.dispatch(Hook.CLIENT_AUTHENTICATE,
                args(authClientInfo("c1", null), authAcc()))).get(1)).get("auth_result"));
        assertEquals(atom("not_authorized"), ((Term.ErlMap) ((Tuple) d.dispatch(Hook.CLIENT_AUTHENTICATE,
                args(authClientInfo("", null), authAcc()))).get(1)).get("auth_result"));
        Tuple acl = args(clientInfo("subA", "good"), atom("subscribe"), bin("p/#"), atom("deny"));
        assertEquals(Term.tuple(STOP, atom("allow")), d.dispatch(Hook.CLIENT_CHECK_ACL, acl));
        Tuple anonymous = args(clientInfo("subA", null), atom("publish"), bin("p/1"), atom("allow"));
        assertEquals(Term.tuple(STOP, atom("deny")), d.dispatch(Hook.CLIENT_CHECK_ACL, anonymous));
        assertThrows(BadArgException.class, () -> d.dispatch(Hook.CLIENT_CHECK_ACL,
                args(clientInfo("subA", "good"), atom("read"), bin("p/1"), atom("allow"))));
    }

    @Test
    void aclIgnoreLeavesTheAnswerToOthers() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public AclDecision decideClientCheckAcl(ClientInfo c, PubSub p, Topic t, boolean so) {
                return t.value.startsWith("admin/") ? AclDecision.DENY : AclDecision.IGNORE;
            }
        };
        Dispatcher d = dispatcher(h);
        assertEquals(Term.OK, d.dispatch(Hook.CLIENT_CHECK_ACL,
                args(clientInfo("subA", "good"), atom("publish"), bin("p/1"), atom("allow"))));
        assertEquals(Term.tuple(STOP, atom("deny")), d.dispatch(Hook.CLIENT_CHECK_ACL,
                args(clientInfo("subA", "good"), atom("publish"), bin("admin/x"), atom("allow"))));
    }

    @Test
    void connectIsRefusedWithTheReasonCode() throws Exception {
        Dispatcher gate = gatekeeper();
        assertEquals(Term.tuple(STOP, Term.tuple(atom("error"), num(0x8A))),
                gate.dispatch(Hook.CLIENT_CONNECT, args(connInfo("bad"), map())));
        assertEquals(Term.OK, gate.dispatch(Hook.CLIENT_CONNECT, args(connInfo("good"), map())));
    }

    @Test
    void subscriptionsAreDeniedRewrittenOrKept() throws Exception {
        Dispatcher gate = gatekeeper();
        Term opts = subOpts();
        Tuple keep = args(clientInfo("subA", "good"), map(), list(Term.tuple(bin("p/#"), opts)));
        assertEquals(Term.OK, gate.dispatch(Hook.CLIENT_SUBSCRIBE, keep));
        Tuple mixed = args(clientInfo("subA", "good"), map(), list(Term.tuple(bin("p/#"), opts),
                Term.tuple(bin("#"), opts), Term.tuple(bin("private/inbox"), opts)));
        Term denied = map("nl", num(0), "qos", num(1), "rap", num(0), "rh", num(0), "deny_subscription", Term.TRUE);
        assertEquals(Term.tuple(Term.OK, list(Term.tuple(bin("p/#"), opts), Term.tuple(bin("#"), denied),
                Term.tuple(bin("users/good/inbox"), opts))), gate.dispatch(Hook.CLIENT_SUBSCRIBE, mixed));
    }

    @Test
    void aRewriteToTheSameFilterIsAKeep() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public FilterDecision decideClientSubscribe(ClientInfo c, Property[] p, TopicFilter f) {
                return FilterDecision.rewrite(f.topic);
            }
        };
        assertEquals(Term.OK, dispatcher(h).dispatch(Hook.CLIENT_SUBSCRIBE,
                args(clientInfo("subA", "good"), map(), list(Term.tuple(bin("p/#"), subOpts())))));
    }

    @Test
    void messagesAreDroppedRewrittenOrLeftAlone() throws Exception {
        Dispatcher gate = gatekeeper();
        Tuple blocked = message("blocked/x");
        List<Term> dropped = new ArrayList<>(blocked.elements());
        dropped.set(5, ((Term.ErlMap) dropped.get(5)).with(atom("allow_publish"), Term.FALSE));
        assertEquals(Term.tuple(STOP, new Tuple(dropped)), gate.dispatch(Hook.MESSAGE_PUBLISH, args(blocked)));

        Tuple legacy = message("legacy/a/b");
        List<Term> rewritten = new ArrayList<>(legacy.elements());
        rewritten.set(2, num(1));
        rewritten.set(6, bin("v2/a/b"));
        assertEquals(Term.tuple(Term.OK, new Tuple(rewritten)), gate.dispatch(Hook.MESSAGE_PUBLISH, args(legacy)));

        // Outside the handler's filters: not entered at all.
        assertEquals(Term.OK, gate.dispatch(Hook.MESSAGE_PUBLISH, args(message("p/1"))));
    }

    @Test
    void aDeliveryIsRewrittenForItsSubscriber() throws Exception {
        Tuple msg = message("p/1");
        List<Term> expected = new ArrayList<>(msg.elements());
        expected.set(7, bin("m1 (for subA)"));
        assertEquals(Term.tuple(Term.OK, new Tuple(expected)),
                gatekeeper().dispatch(Hook.MESSAGE_DELIVERED, args(clientInfo("subA", "good"), msg)));
        assertEquals(Term.OK,
                gatekeeper().dispatch(Hook.MESSAGE_DELIVERED, args(clientInfo("subA", "good"), message("q/1"))));
    }

    private static DefaultCommunicationHandler publisher(Function<Message, Message> body) {
        return new DefaultCommunicationHandler() {
            @Override
            public Message onMessagePublish(Message m) {
                return body.apply(m);
            }
        };
    }

    @Test
    void anOriginalStyleMessageRewritesWhatChanged() {
        Tuple msg = message("p/1");
        assertEquals(Term.OK, dispatcher(publisher(m -> m)).dispatch(Hook.MESSAGE_PUBLISH, args(msg)));
        assertEquals(Term.OK, dispatcher(publisher(m -> null)).dispatch(Hook.MESSAGE_PUBLISH, args(msg)));
        Term changed = dispatcher(publisher(m -> {
            m.topic = "q/1";
            m.payload = "new".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            return m;
        })).dispatch(Hook.MESSAGE_PUBLISH, args(msg));
        List<Term> expected = new ArrayList<>(msg.elements());
        expected.set(6, bin("q/1"));
        expected.set(7, bin("new"));
        assertEquals(Term.tuple(Term.OK, new Tuple(expected)), changed);
        Term qos = dispatcher(publisher(m -> new Message(m.node, m.id, 0, m.from, m.topic, m.payload, m.timestamp)))
                .dispatch(Hook.MESSAGE_PUBLISH, args(msg));
        expected = new ArrayList<>(msg.elements());
        expected.set(2, num(0));
        assertEquals(Term.tuple(Term.OK, new Tuple(expected)), qos);
    }

    @Test
    void typedPublishRewriteAndDeliveredRewriteUseTheSameShape() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public PublishDecision decideMessagePublish(Message m) {
                return PublishDecision.rewrite(new MessageRewrite().payload("x"));
            }

            @Override
            public DeliveredDecision decideMessageDelivered(ClientInfo c, Message m) {
                return DeliveredDecision.proceed();
            }
        };
        Tuple msg = message("p/1");
        List<Term> expected = new ArrayList<>(msg.elements());
        expected.set(7, bin("x"));
        assertEquals(Term.tuple(Term.OK, new Tuple(expected)), dispatcher(h).dispatch(Hook.MESSAGE_PUBLISH, args(msg)));
        assertEquals(Term.OK, dispatcher(h).dispatch(Hook.MESSAGE_DELIVERED, args(clientInfo("s", "u"), msg)));
    }

    @Test
    void notificationsReceiveTheirArgumentsAndAnswerOk() {
        List<String> seen = new ArrayList<>();
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public void onClientUnsubscribe(ClientInfo c, Property[] p, TopicFilter[] f) {
                seen.add(c.clientId + " " + f[0]);
            }

            @Override
            public void onMessageDropped(Message m, io.emqx.extension.handler.codec.Reason r) {
                seen.add(m.node + " " + m.topic + " " + r + " " + m.id);
            }

            @Override
            public void onSessionSubscribed(ClientInfo c, Topic t, io.emqx.extension.handler.codec.SubscribeOption o) {
                seen.add(t + " qos " + o.qos + " new " + o.isNew);
            }
        };
        Dispatcher d = dispatcher(h);
        assertEquals(Term.OK, d.dispatch(Hook.CLIENT_UNSUBSCRIBE,
                args(clientInfo("subB", "good"), map(), list(Term.tuple(bin("r/#"), map())))));
        assertEquals(Term.OK, d.dispatch(Hook.MESSAGE_DROPPED,
                args(message("nobody/here"), map("node", atom("emqx@10.0.0.1")), atom("no_subscribers"))));
        assertEquals(Term.OK, d.dispatch(Hook.SESSION_SUBSCRIBED, args(clientInfo("subA", "good"), bin("p/#"),
                map("is_new", Term.TRUE, "nl", num(0), "qos", num(1), "rap", num(0), "rh", num(0)))));
        assertEquals(List.of("subB r/# (qos 0)",
                "emqx@10.0.0.1 nobody/here no_subscribers 000661235dc06475f443000006ae0001",
                "p/# qos 1 new true"), seen);
    }

    @Test
    void badArgumentsAndUnregisteredHooksAreBadArg() throws Exception {
        Dispatcher gate = gatekeeper();
        BadArgException notHandled = assertThrows(BadArgException.class,
                () -> gate.dispatch(Hook.CLIENT_CHECK_ACL, args(clientInfo("a", "b"), atom("publish"), bin("t"), atom("allow"))));
        assertTrue(notHandled.getMessage().contains("does not handle"), notHandled.getMessage());
        assertThrows(BadArgException.class, () -> gate.dispatch(Hook.MESSAGE_PUBLISH, args(atom("not_a_message"))));
        assertThrows(BadArgException.class, () -> gate.dispatch(Hook.CLIENT_CONNECT, args(atom("x"), map())));
        assertThrows(BadArgException.class, () -> gate.dispatch(Hook.CLIENT_CONNECT, args(connInfo("bad"))));
    }

    @Test
    void theLaneKeyIsTheClientOrThePublisher() {
        assertEquals(bin("subA"), Dispatcher.clientKey(Hook.CLIENT_CONNECTED, args(clientInfo("subA", "u"), map())));
        assertEquals(bin("pubA"), Dispatcher.clientKey(Hook.MESSAGE_PUBLISH, args(message("p/1"))));
        assertEquals(bin("subA"), Dispatcher.clientKey(Hook.MESSAGE_DELIVERED, args(clientInfo("subA", "u"), message("p/1"))));
        assertNull(Dispatcher.clientKey(Hook.CLIENT_CONNECTED, args(atom("x"))));
    }
}
