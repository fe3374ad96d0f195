package io.emqx.extension.driver;

import io.emqx.extension.etf.Etf;
import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.AclDecision;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.ConnectDecision;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.DeliveredDecision;
import io.emqx.extension.handler.FilterDecision;
import io.emqx.extension.handler.Hook;
import io.emqx.extension.handler.HookSpec;
import io.emqx.extension.handler.MessageRewrite;
import io.emqx.extension.handler.PublishDecision;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Topic;
import io.emqx.extension.handler.codec.TopicFilter;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rehearses the driver's own path before it answers init, so that a new
 * instance is ready for full load when the plugin switches traffic to it.
 *
 * <p>A fresh JVM runs the driver's code in the interpreter (10-30 times
 * slower than compiled: 0.1-0.5 ms a call instead of 10-20 us), and the
 * first call of each path also loads classes and links lambdas (the
 * first 16 calls took 30-130 ms). Measured on 2 shared cores, 64 callers
 * at once right after init waited up to 40-180 ms for their first
 * answers, and the code was compiled only after some thousands of calls.
 * So a rehearsal driver ({@link PortDriver}: the same code, its own
 * {@link Lanes}) is fed synthetic requests for every hook the handler
 * registered, {@link #IN_FLIGHT} at a time, as a broker would send them:
 * each request is read from a stream, decoded, dispatched, its decision
 * encoded and written, inline or on a worker.
 *
 * <p>The user's handler is never called: its calls may have side effects.
 * A stand-in answers instead, with the handler's hook specs (the same
 * branches, the same topic filters) and every kind of decision in turn.
 * Warming the handler's own code is up to its {@code init()}, which runs
 * before the instance takes traffic too.
 *
 * <pre>{@code
 * Warmup.Result r = Warmup.rehearse("gate", handler.getHookSpecs(), initOpts, log);
 * }</pre>
 */
final class Warmup {

    /**
     * Synthetic calls made: enough that the driver's hot path runs
     * compiled, few enough that a reload stays short and leaves the
     * running instance CPU. Measured on 2 shared cores (make
     * bench-java-cold, 8 JVMs each), 64 callers at once right after init:
     * the slowest answer of that first burst (median of the JVMs) was
     * 50-90 ms with none, 8-11 ms with 500 calls, 6-7 ms with 1000, 7-8 ms
     * with 2000; the CPU used until init 160-210 ms, 390, 460-480 and
     * 610-660 ms.
     */
    static final int CALLS = 500;
    /** Requests in flight at once: enough that some wait and are handed to a worker. */
    static final int IN_FLIGHT = 16;
    /**
     * Worker threads of the rehearsal. The running instance still serves
     * the broker meanwhile (a reload): the rehearsal and the JIT compiler
     * threads must leave it CPU, so one worker, whatever the pool size.
     */
    static final int WORKERS = 1;
    /** The longest rehearsal; a slower machine starts less warm rather than late. */
    static final long BUDGET_MS = 3000;

    /**
     * What a rehearsal did.
     *
     * @param sent calls sent
     * @param answered calls answered
     * @param failed calls answered with an error (a fault in the driver)
     * @param firstFailure the first such answer, or null
     * @param elapsedNs how long it took
     */
    record Result(int sent, int answered, int failed, String firstFailure, long elapsedNs) {
        @Override
        public String toString() {
            return answered + " synthetic calls in " + PortDriver.millis(elapsedNs) + " ms"
                    + (failed == 0 ? "" : ", " + failed + " failed: " + firstFailure);
        }
    }

    private Warmup() {}

    /**
     * Runs a rehearsal of {@link #CALLS} calls (fewer if it takes longer
     * than {@link #BUDGET_MS}).
     *
     * @param name the driver's name, for what the rehearsal logs
     * @param specs the hooks the handler registered
     * @param opts the init options (the worker pool, the node's name)
     * @param log where a fault of the rehearsal is logged
     * @return what it did
     */
    static Result rehearse(String name, List<HookSpec> specs, ErlMap opts, LogSink log) {
        return rehearse(name, specs, opts, log, CALLS, BUDGET_MS);
    }

    static Result rehearse(String name, List<HookSpec> specs, ErlMap opts, LogSink log, int calls, long budgetMs) {
        long start = System.nanoTime();
        List<byte[]> requests = calls <= 0 ? List.of() : requests(specs);
        if (requests.isEmpty()) {
            return new Result(0, 0, 0, null, System.nanoTime() - start);
        }
        Broker broker = new Broker(requests, calls, start + budgetMs * 1_000_000L);
        PortDriver rehearsal = new PortDriver(broker.input, new FrameOutput(broker.output), log, name + " (warm-up)");
        rehearsal.prepare(new StandIn(), specs, opts.with(Term.atom("pool_size"), Term.integer(WORKERS)));
        rehearsal.serveRequests();
        return broker.result(System.nanoTime() - start);
    }

    /** One encoded request per registered hook and synthetic client, each a whole frame. */
    static List<byte[]> requests(List<HookSpec> specs) {
        List<byte[]> frames = new ArrayList<>();
        Term id = new Term.Ref(Term.atom("exhook@warmup"), 1, new int[] {1, 2, 3});
        for (int client = 0; client < IN_FLIGHT; client++) {
            Events events = new Events("warmup-" + client);
            for (HookSpec spec : specs) {
                for (Tuple args : events.of(spec)) {
                    Etf.Writer w = new Etf.Writer(512);
                    w.skip(4);
                    w.version();
                    w.term(Term.tuple(Term.atom("call"), id, Term.integer(spec.hook().ordinal()), args,
                            Term.integer(5000)));
                    w.patchInt(0, w.size() - 4);
                    frames.add(w.toByteArray());
                }
            }
        }
        return frames;
    }

    /** Arguments shaped as EMQX 4.4 passes them, for one synthetic client. */
    private static final class Events {
        private static final Term LOCALHOST = Term.tuple(Term.integer(127), Term.integer(0), Term.integer(0),
                Term.integer(1));
        private final Term clientId;
        private final ErlMap clientInfo;
        private final ErlMap connInfo;

        Events(String id) {
            clientId = Term.binary(id);
            clientInfo = map("anonymous", Term.FALSE, "auth_result", Term.atom("success"), "clientid", clientId,
                    "is_bridge", Term.FALSE, "is_superuser", Term.FALSE, "mountpoint", Term.UNDEFINED,
                    "password", Term.binary("warmup"), "peerhost", LOCALHOST, "protocol", Term.atom("mqtt"),
                    "sockport", Term.integer(1883), "username", Term.binary("warmup"),
                    "zone", Term.atom("external"));
            connInfo = map("clean_start", Term.TRUE, "clientid", clientId, "conn_mod", Term.atom("emqx_connection"),
                    "conn_props", map(), "connected_at", Term.integer(1_795_654_383_898L),
                    "expiry_interval", Term.integer(0), "keepalive", Term.integer(60), "peercert", Term.UNDEFINED,
                    "peername", Term.tuple(LOCALHOST, Term.integer(33854)), "proto_name", Term.binary("MQTT"),
                    "proto_ver", Term.integer(4), "receive_maximum", Term.integer(32),
                    "sockname", Term.tuple(LOCALHOST, Term.integer(1883)), "socktype", Term.atom("tcp"),
                    "username", Term.binary("warmup"));
        }

        /** The hook's arguments; for a message hook, one message its filters let through and one they do not. */
        List<Tuple> of(HookSpec spec) {
            Term props = map("User-Property", Term.list(List.of(Term.tuple(Term.binary("k"), Term.binary("v")))));
            Term subOpts = map("is_new", Term.TRUE, "nl", Term.integer(0), "qos", Term.integer(1),
                    "rap", Term.integer(0), "rh", Term.integer(0));
            Term filters = Term.list(List.of(Term.tuple(Term.binary("warmup/#"), subOpts),
                    Term.tuple(Term.binary("private/warmup"), subOpts)));
            Term session = map("created_at", Term.integer(1_795_654_383_898L), "subscriptions", map());
            Term reason = Term.atom("normal");
            switch (spec.hook()) {
                case CLIENT_CONNECT:
                    return List.of(args(connInfo, props));
                case CLIENT_CONNACK:
                    return List.of(args(connInfo, Term.atom("success"), map()));
                case CLIENT_CONNECTED:
                    return List.of(args(clientInfo, connInfo));
                case CLIENT_DISCONNECTED:
                    return List.of(args(clientInfo, reason, connInfo));
                case CLIENT_AUTHENTICATE:
                    return List.of(args(clientInfo, map("anonymous", Term.TRUE, "auth_result", Term.atom("success"))));
                case CLIENT_CHECK_ACL:
                    return List.of(args(clientInfo, Term.atom("publish"), Term.binary("warmup/1"), Term.atom("allow")),
                            args(clientInfo, Term.atom("subscribe"), Term.binary("warmup/#"), Term.atom("deny")));
                case CLIENT_SUBSCRIBE:
                case CLIENT_UNSUBSCRIBE:
                    return List.of(args(clientInfo, props, filters));
                case SESSION_SUBSCRIBED:
                    return List.of(args(clientInfo, Term.binary("warmup/#"), subOpts));
                case SESSION_UNSUBSCRIBED:
                    return List.of(args(clientInfo, Term.binary("warmup/#"), map()));
                case SESSION_TERMINATED:
                    return List.of(args(clientInfo, reason, session));
                case MESSAGE_PUBLISH:
                    return messages(spec, m -> args(m));
                case MESSAGE_DELIVERED:
                case MESSAGE_ACKED:
                    return messages(spec, m -> args(clientInfo, m));
                case MESSAGE_DROPPED:
                    return messages(spec, m -> args(m, map("node", Term.atom("exhook@warmup")),
                            Term.atom("no_subscribers")));
                default:
                    // session.created, resumed, discarded, takeovered
                    return List.of(args(clientInfo, session));
            }
        }

        private List<Tuple> messages(HookSpec spec, java.util.function.Function<Tuple, Tuple> args) {
            String wanted = spec.topics().isEmpty() ? "warmup/1" : topicMatching(spec.topics().get(0));
            List<Tuple> out = new ArrayList<>();
            for (String topic : new String[] {wanted, "$warmup/unwanted"}) {
                if (topic.equals(wanted) || !spec.wants(topic)) {
                    out.add(args.apply(message(topic)));
                }
            }
            return out;
        }

        private Tuple message(String topic) {
            return Term.tuple(Term.atom("message"), Term.binary(new byte[] {0, 6, 97, 35, 93, 1, 2, 3, 4, 5, 6, 7}),
                    Term.integer(1), clientId, map("dup", Term.FALSE, "retain", Term.FALSE),
                    map("peerhost", LOCALHOST, "properties", map(), "proto_ver", Term.integer(4),
                            "protocol", Term.atom("mqtt"), "username", Term.binary("warmup")),
                    Term.binary(topic), Term.binary("warm-up payload"), Term.integer(1_795_654_384_903L));
        }

        /** A topic that {@code filter} matches: each wildcard level replaced. */
        static String topicMatching(String filter) {
            return filter.replace("+", "warmup").replace("#", "warmup");
        }

        private static Tuple args(Term... args) {
            return Term.tuple(args);
        }

        /** A map from alternating atom keys and values. */
        private static ErlMap map(Object... kv) {
            Map<Term, Term> m = new LinkedHashMap<>();
            for (int i = 0; i < kv.length; i += 2) {
                m.put(Term.atom((String) kv[i]), (Term) kv[i + 1]);
            }
            return Term.map(m);
        }
    }

    /**
     * Answers every hook, each kind of decision in turn (by clientid), so
     * that every encoder runs.
     */
    static final class StandIn extends DefaultCommunicationHandler {

        private static int pick(String clientId, int kinds) {
            return Math.floorMod(clientId.hashCode(), kinds);
        }

        @Override
        public ConnectDecision decideClientConnect(ConnInfo connInfo, Property[] props) {
            return pick(connInfo.clientId, 2) == 0 ? ConnectDecision.accept() : ConnectDecision.refuse(ConnectDecision.BANNED);
        }

        @Override
        public boolean onClientAuthenticate(ClientInfo clientInfo, boolean authresult) {
            return pick(clientInfo.clientId, 2) == 0;
        }

        @Override
        public AuthDecision decideClientAuthenticate(ClientInfo clientInfo, boolean authresult) {
            AuthDecision[] all = AuthDecision.values();
            return all[pick(clientInfo.clientId, all.length)];
        }

        @Override
        public boolean onClientCheckAcl(ClientInfo clientInfo, PubSub pubsub, Topic topic, boolean result) {
            return pick(clientInfo.clientId, 2) == 0;
        }

        @Override
        public AclDecision decideClientCheckAcl(ClientInfo clientInfo, PubSub pubsub, Topic topic, boolean result) {
            AclDecision[] all = AclDecision.values();
            return all[pick(clientInfo.clientId, all.length)];
        }

        @Override
        public FilterDecision decideClientSubscribe(ClientInfo clientInfo, Property[] props, TopicFilter filter) {
            switch (pick(clientInfo.clientId + filter.topic, 3)) {
                case 0:
                    return FilterDecision.keep();
                case 1:
                    return FilterDecision.deny();
                default:
                    return FilterDecision.rewrite("rewritten/" + filter.topic);
            }
        }

        @Override
        public Message onMessagePublish(Message message) {
            if (pick(message.from, 2) == 0) {
                message.topic = "rewritten/" + message.topic;
            }
            return message;
        }

        @Override
        public PublishDecision decideMessagePublish(Message message) {
            switch (pick(message.from, 3)) {
                case 0:
                    return PublishDecision.proceed();
                case 1:
                    return PublishDecision.drop();
                default:
                    return PublishDecision.rewrite(new MessageRewrite().topic("rewritten/" + message.topic).qos(1)
                            .payload(message.payload));
            }
        }

        @Override
        public DeliveredDecision decideMessageDelivered(ClientInfo clientInfo, Message message) {
            return pick(clientInfo.clientId, 2) == 0 ? DeliveredDecision.proceed()
                    : DeliveredDecision.rewrite(new MessageRewrite().payload(message.payload));
        }
    }

    /**
     * The synthetic broker: sends the requests round after round, at most
     * {@link #IN_FLIGHT} unanswered at a time, until {@code calls} are sent
     * or the deadline passes (then the end of input), and reads the
     * answers.
     */
    private static final class Broker {
        private final List<byte[]> requests;
        private final int calls;
        private final long deadline;
        private int sent;
        private int answered;
        private int failed;
        private String firstFailure;
        /** The request being sent, and how much of it has been. */
        private byte[] current;
        private int currentPos;

        final InputStream input = new InputStream() {
            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                return Broker.this.read(b, off, len);
            }

            @Override
            public int available() {
                return Broker.this.available();
            }
        };

        final OutputStream output = new OutputStream() {
            @Override
            public void write(int b) {
                throw new UnsupportedOperationException("frames are written whole");
            }

            @Override
            public void write(byte[] b, int off, int len) {
                answers(b, off, len);
            }
        };

        Broker(List<byte[]> requests, int calls, long deadline) {
            this.requests = requests;
            this.calls = calls;
            this.deadline = deadline;
        }

        private synchronized int read(byte[] b, int off, int len) {
            while (current == null) {
                long left = deadline - System.nanoTime();
                if (sent >= calls || left <= 0) {
                    return -1;
                }
                if (sent - answered < IN_FLIGHT) {
                    current = requests.get(sent % requests.size());
                    currentPos = 0;
                    sent++;
                    break;
                }
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return -1;
                }
            }
            int n = Math.min(len, current.length - currentPos);
            System.arraycopy(current, currentPos, b, off, n);
            currentPos += n;
            if (currentPos == current.length) {
                current = null;
            }
            return n;
        }

        private synchronized int available() {
            if (current != null) {
                return current.length - currentPos;
            }
            return sent < calls && sent - answered < IN_FLIGHT ? requests.get(sent % requests.size()).length : 0;
        }

        /** Whole frames of {@code {reply, Id, Result}}. */
        private void answers(byte[] b, int off, int len) {
            int pos = off;
            int replies = 0;
            int errors = 0;
            String error = null;
            while (pos + 4 <= off + len) {
                int size = ((b[pos] & 0xff) << 24) | ((b[pos + 1] & 0xff) << 16) | ((b[pos + 2] & 0xff) << 8)
                        | (b[pos + 3] & 0xff);
                Term frame = Etf.decode(java.util.Arrays.copyOfRange(b, pos + 4, pos + 4 + size));
                pos += 4 + size;
                replies++;
                if (frame instanceof Tuple t && t.arity() == 3 && t.get(2) instanceof Tuple result
                        && result.arity() == 2 && Term.atom("error").equals(result.get(0))) {
                    errors++;
                    error = error == null ? Decode.render(result) : error;
                }
            }
            synchronized (this) {
                answered += replies;
                failed += errors;
                firstFailure = firstFailure == null ? error : firstFailure;
                notifyAll();
            }
        }

        synchronized Result result(long elapsedNs) {
            return new Result(sent, answered, failed, firstFailure, elapsedNs);
        }
    }
}
