package io.emqx.extension.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.emqx.extension.etf.Etf;
import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Int;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.Hook;
import io.emqx.extension.handler.HookSpec;
import io.emqx.extension.handler.PublishDecision;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class WarmupTest {

    private static final Term.ErlMap OPTS = Term.map(Map.of(Term.atom("pool_size"), Term.integer(4),
            Term.atom("node"), Term.atom("emqx@127.0.0.1")));

    /** A handler whose every call would be a side effect: it counts them. */
    static final class Counting extends DefaultCommunicationHandler {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public void onClientConnect(ConnInfo connInfo, Property[] props) {
            calls.incrementAndGet();
        }

        @Override
        public AuthDecision decideClientAuthenticate(ClientInfo clientInfo, boolean authresult) {
            calls.incrementAndGet();
            return AuthDecision.DENY;
        }

        @Override
        public void onClientConnected(ClientInfo clientInfo) {
            calls.incrementAndGet();
        }

        @Override
        public PublishDecision decideMessagePublish(Message message) {
            calls.incrementAndGet();
            return PublishDecision.drop();
        }
    }

    /** Every hook, each fold hook typed or in the original style. */
    private static List<HookSpec> allHooks(boolean typed, List<String> topics) {
        List<HookSpec> specs = new ArrayList<>();
        for (Hook h : Hook.values()) {
            specs.add(new HookSpec(h, typed && h.decideMethod() != null, topics));
        }
        return specs;
    }

    private static Tuple request(byte[] frame) {
        return (Tuple) Etf.decode(Arrays.copyOfRange(frame, 4, frame.length));
    }

    @Test
    void theRehearsalAnswersEveryCallAndNeverCallsTheHandler() {
        Counting handler = new Counting();
        ByteArrayOutputStream logged = new ByteArrayOutputStream();
        LogSink log = new LogSink(new FrameOutput(logged));
        Warmup.Result r = Warmup.rehearse("test", handler.getHookSpecs(), OPTS, log, 500, 60_000);
        log.flush(1000);
        assertEquals(500, r.sent());
        assertEquals(500, r.answered());
        assertEquals(0, r.failed(), r.firstFailure());
        assertEquals(0, handler.calls.get());
        assertEquals(0, logged.size(), "the rehearsal logged");
    }

    @Test
    void everyRegisteredHookIsRehearsedAndItsAnswerEncoded() {
        for (boolean typed : new boolean[] {true, false}) {
            List<HookSpec> specs = allHooks(typed, List.of());
            Dispatcher d = new Dispatcher(new Warmup.StandIn(), specs, "emqx@127.0.0.1");
            Map<Hook, Set<Term>> answers = new EnumMap<>(Hook.class);
            for (byte[] frame : Warmup.requests(specs)) {
                Tuple call = request(frame);
                assertEquals(Term.atom("call"), call.get(0));
                Hook hook = Hook.fromIndex(((Int) call.get(2)).value());
                Term answer = d.dispatch(hook, (Tuple) call.get(3));
                assertFalse(answer instanceof Tuple t && Term.atom("error").equals(t.get(0)), hook + ": " + answer);
                answers.computeIfAbsent(hook, h -> new HashSet<>()).add(answer);
            }
            assertEquals(Set.of(Hook.values()), answers.keySet());
            if (typed) {
                // Each kind of decision in turn: every encoder runs.
                for (Hook h : List.of(Hook.CLIENT_CONNECT, Hook.CLIENT_AUTHENTICATE, Hook.CLIENT_CHECK_ACL,
                        Hook.CLIENT_SUBSCRIBE, Hook.MESSAGE_PUBLISH, Hook.MESSAGE_DELIVERED)) {
                    assertTrue(answers.get(h).size() > 1, h + " always answered " + answers.get(h));
                }
            }
        }
    }

    @Test
    void messageHooksGetATopicTheirFiltersLetThroughAndOneTheyDoNot() {
        HookSpec spec = new HookSpec(Hook.MESSAGE_PUBLISH, true, List.of("a/+/c/#"));
        Set<String> topics = new HashSet<>();
        for (byte[] frame : Warmup.requests(List.of(spec))) {
            Tuple message = (Tuple) ((Tuple) request(frame).get(3)).get(0);
            topics.add(Decode.topic(message.get(6)));
        }
        assertEquals(2, topics.size(), topics.toString());
        assertEquals(1, topics.stream().filter(spec::wants).count(), topics.toString());
    }

    @Test
    void aRehearsalEndsAtItsBudget() {
        LogSink log = new LogSink(new FrameOutput(OutputStream.nullOutputStream()));
        Warmup.Result r = Warmup.rehearse("test", allHooks(true, List.of()), OPTS, log, Integer.MAX_VALUE, 50);
        assertTrue(r.sent() < Integer.MAX_VALUE);
        assertEquals(r.sent(), r.answered());
        assertTrue(r.elapsedNs() < 10_000_000_000L, r.toString());
    }

    @Test
    void noCallsNoRehearsal() {
        LogSink log = new LogSink(new FrameOutput(OutputStream.nullOutputStream()));
        Warmup.Result r = Warmup.rehearse("test", allHooks(true, List.of()), OPTS, log, 0, 60_000);
        assertEquals(0, r.sent());
        assertNull(r.firstFailure());
    }
}
