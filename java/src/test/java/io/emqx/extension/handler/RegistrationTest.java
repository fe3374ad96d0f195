package io.emqx.extension.handler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Topic;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Which methods register which hooks, with which topic filters. */
class RegistrationTest {

    static class AuthOnly extends DefaultCommunicationHandler {
        @Override
        public boolean onClientAuthenticate(ClientInfo c, boolean so) {
            return true;
        }
    }

    /** A subclass of a handler keeps what its parent declared. */
    static class AuthAndAcl extends AuthOnly {
        @Override
        public AclDecision decideClientCheckAcl(ClientInfo c, PubSub p, Topic t, boolean so) {
            return AclDecision.ALLOW;
        }
    }

    static class Both extends DefaultCommunicationHandler {
        @Override
        public Message onMessagePublish(Message m) {
            return m;
        }

        @Override
        public PublishDecision decideMessagePublish(Message m) {
            return PublishDecision.drop();
        }
    }

    static class Overload extends DefaultCommunicationHandler {
        /** Not the hook's signature: not a registration. */
        public void onClientConnected(String clientId) {}
    }

    private static List<Hook> hooks(DefaultCommunicationHandler h) {
        return h.getHookSpecs().stream().map(HookSpec::hook).collect(Collectors.toList());
    }

    @Test
    void exactlyTheDeclaredMethodsRegister() {
        assertEquals(List.of(Hook.CLIENT_AUTHENTICATE), hooks(new AuthOnly()));
        assertEquals(List.of(Hook.CLIENT_AUTHENTICATE, Hook.CLIENT_CHECK_ACL), hooks(new AuthAndAcl()));
        assertEquals(List.of(false, true),
                new AuthAndAcl().getHookSpecs().stream().map(HookSpec::typed).collect(Collectors.toList()));
        assertEquals(List.of(), hooks(new DefaultCommunicationHandler()));
        assertEquals(List.of(), hooks(new Overload()));
        assertEquals(new AuthOnly().getHookSpecs(), new AuthOnly().init());
    }

    @Test
    void theOriginalExampleRegistersAllNineteenAndTheGatekeeperItsFiveDecisions() throws Exception {
        DefaultCommunicationHandler sample = (DefaultCommunicationHandler)
                Class.forName("SampleHandler").getDeclaredConstructor().newInstance();
        assertEquals(Arrays.asList(Hook.values()), hooks(sample));
        assertTrue(sample.getHookSpecs().stream().noneMatch(HookSpec::typed));
        DefaultCommunicationHandler gate = (DefaultCommunicationHandler)
                Class.forName("Gatekeeper").getDeclaredConstructor().newInstance();
        assertEquals(List.of(Hook.CLIENT_CONNECT, Hook.CLIENT_AUTHENTICATE, Hook.CLIENT_SUBSCRIBE,
                Hook.MESSAGE_PUBLISH, Hook.MESSAGE_DELIVERED), hooks(gate));
        assertTrue(gate.getHookSpecs().stream().allMatch(HookSpec::typed));
    }

    @Test
    void declaringBothMethodsOfAHookIsRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new Both().getHookSpecs());
        assertTrue(e.getMessage().contains("onMessagePublish or decideMessagePublish"), e.getMessage());
    }

    @Test
    void topicFiltersComeFromTheActionOptions() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public ActionOptionConfig getActionOption() {
                return new ActionOptionConfig().set(ActionOptionConfig.Keys.MESSAGE_PUBLISH_TOPICS, " a/+ ,b/#,");
            }

            @Override
            public Message onMessagePublish(Message m) {
                return m;
            }

            @Override
            public void onMessageAcked(ClientInfo c, Message m) {}
        };
        List<HookSpec> specs = h.getHookSpecs();
        assertEquals(new HookSpec(Hook.MESSAGE_PUBLISH, false, List.of("a/+", "b/#")), specs.get(0));
        assertTrue(specs.get(0).wants("b/c/d"));
        assertTrue(!specs.get(0).wants("c"));
        // No filters for message.acked: every message.
        assertEquals(List.of(), specs.get(1).topics());
        assertTrue(specs.get(1).wants("$SYS/x"));
    }

    @Test
    void theOriginalsDefaultFilterIsHashForEveryMessageHook() {
        HookSpec spec = new DefaultCommunicationHandler() {
            @Override
            public void onMessageDropped(Message m, io.emqx.extension.handler.codec.Reason r) {}
        }.getHookSpecs().get(0);
        assertEquals(List.of("#"), spec.topics());
        assertTrue(spec.wants("a/b"));
        assertTrue(!spec.wants("$SYS/brokers"));
    }

    @Test
    void invalidFiltersAndUnknownKeysRefuseTheStart() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler() {
            @Override
            public ActionOptionConfig getActionOption() {
                return new ActionOptionConfig()
                        .set(ActionOptionConfig.Keys.MESSAGE_DELIVERED_TOPICS, "a/#/b")
                        .set("MESSAGE_PUBLISH_TOPIC", "x");
            }
        };
        IllegalStateException e = assertThrows(IllegalStateException.class, h::getHookSpecs);
        assertTrue(e.getMessage().contains("message.delivered"), e.getMessage());
        assertTrue(e.getMessage().contains("MESSAGE_PUBLISH_TOPIC"), e.getMessage());
    }

    @Test
    void settingsReachTheHandler() {
        DefaultCommunicationHandler h = new DefaultCommunicationHandler();
        h.configure(new Config("java", Map.of("db", "localhost")));
        assertEquals("localhost", h.getConfig().get("db"));
        assertEquals("java", h.getConfig().driverName());
        assertEquals("none", h.getConfig().get("missing", "none"));
    }

    @Test
    void decisionsRefuseInconsistentValues() {
        assertThrows(IllegalArgumentException.class, () -> ConnectDecision.refuse(0));
        assertThrows(IllegalArgumentException.class, () -> FilterDecision.rewrite("a/#/b"));
        assertThrows(IllegalArgumentException.class, () -> new PublishDecision(PublishDecision.Kind.DROP, new MessageRewrite()));
        assertEquals(2, new MessageRewrite().qos(7).getQos());
    }
}
