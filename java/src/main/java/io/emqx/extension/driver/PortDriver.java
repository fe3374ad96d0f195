package io.emqx.extension.driver;

import io.emqx.extension.etf.Etf;
import io.emqx.extension.etf.EtfException;
import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Atom;
import io.emqx.extension.etf.Term.ErlList;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.Int;
import io.emqx.extension.etf.Term.Raw;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.Config;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.Hook;
import io.emqx.extension.handler.HookSpec;
import java.io.ByteArrayInputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The JVM side of the plugin's Port transport: serves one driver's handler
 * over stdin/stdout, {@code {packet, 4}} frames of External Term Format, as
 * the Rust SDK's {@code runtime/port.rs} documents the protocol:
 *
 * <table>
 * <caption>Requests (VM to JVM) and answers</caption>
 * <tr><th>request</th><th>answer</th></tr>
 * <tr><td>{@code {init, Name, [{Key, Value}], Opts}}</td>
 *     <td>{@code {init_ok, [{HookName, pool}]}} or {@code {init_error, Text}}</td></tr>
 * <tr><td>{@code {call, Id, HookIndex, ArgsTuple, TimeoutMs}}</td>
 *     <td>{@code {reply, Id, Result}}, in any order, Id echoed byte for byte</td></tr>
 * <tr><td>{@code {cast, HookIndex, ArgsTuple, TimeoutMs}}</td>
 *     <td>none; {@code {dropped, HookIndex}} if the queue was full</td></tr>
 * <tr><td>{@code deinit}</td><td>{@code deinit_ok}, then the JVM exits</td></tr>
 * </table>
 *
 * <p>And at any time, from the JVM: {@code {log, Level, Text}} or
 * {@code {log, Level, Text, #{hook => Hook, clientid => ClientId}}}, for what
 * the handler prints and for its exceptions; what init logged comes before
 * its answer.
 *
 * <p>Before it answers init, the driver rehearses its own path on
 * synthetic calls ({@link Warmup}), so that the first calls of a new
 * instance find it compiled.
 *
 * <p>Usage: {@code java -cp emqx-extension-java.jar:HANDLER_PATH
 * io.emqx.extension.driver.PortDriver HandlerClass}. Opts keys read:
 * {@code pool_size} (core worker threads, default 8), {@code pool_max}
 * (default 256), {@code queue_capacity} (calls and casts waiting to run,
 * default 1024), {@code spin_us} (how long an idle reader or worker polls
 * for work before it sleeps, default 50), {@code node} (the broker node's
 * name, for the handler's {@code node} fields).
 */
public final class PortDriver {

    private static final Atom INIT = Term.atom("init");
    private static final Atom CALL = Term.atom("call");
    private static final Atom CAST = Term.atom("cast");
    private static final Atom DEINIT = Term.atom("deinit");
    private static final Atom POOL = Term.atom("pool");
    private static final Term ERROR = Term.atom("error");
    private static final Term BADARG = Term.atom("badarg");
    private static final Term EXCEPTION = Term.atom("exception");
    private static final Term BUSY = Term.tuple(ERROR, Term.atom("busy"));
    /** How long deinit waits for queued calls to finish; the VM kills the JVM after 10 s. */
    private static final long DRAIN_MS = 8000;
    /**
     * Calls shorter than this on average run where they are read even when
     * more requests wait: handing one to another thread costs about as much
     * (measured on 2 cores: 6 us of CPU a call in place, 20 us handed off).
     */
    private static final long HANDOFF_WORTH_NS = 20_000;

    private final FrameReader in;
    private final FrameOutput out;
    private final LogSink log;
    private DefaultCommunicationHandler handler;
    private Dispatcher dispatcher;
    private Lanes lanes;
    private String name = "";
    /** The exit status, once a reader has seen deinit or the end of input. */
    private final CompletableFuture<Integer> finished = new CompletableFuture<>();
    /** How long handler calls take, a moving average (racy updates lose nothing that matters). */
    private volatile long averageCallNs;

    PortDriver(InputStream in, FrameOutput out, LogSink log) {
        this.in = new FrameReader(in, 0);
        this.out = out;
        this.log = log;
    }

    /** A driver that goes by {@code name} in what it logs (the init request names the real one). */
    PortDriver(InputStream in, FrameOutput out, LogSink log, String name) {
        this(in, out, log);
        this.name = name;
    }

    /**
     * Serves the handler class named by {@code args[0]} (default {@code Main}).
     *
     * @param args the handler's class name
     */
    public static void main(String[] args) {
        InputStream in = new FileInputStream(FileDescriptor.in);
        FrameOutput out = new FrameOutput(new FileOutputStream(FileDescriptor.out));
        LogSink log = new LogSink(out);
        // stdout belongs to the protocol: what the handler prints goes to the log.
        System.setOut(log.stream("info"));
        System.setErr(log.stream("error"));
        System.setIn(new ByteArrayInputStream(new byte[0]));
        int status = new PortDriver(in, out, log).serve(args.length > 0 ? args[0] : "Main");
        log.flush(1000);
        System.exit(status);
    }

    /** Runs until {@code deinit} or the end of input; the exit status. */
    int serve(String className) {
        Term init;
        try {
            init = read();
        } catch (IOException e) {
            return 1;
        }
        if (init == null) {
            return 1;
        }
        Term refusal = start(className, init);
        if (refusal != null) {
            log.flush(1000);
            out.send(Term.tuple(Term.atom("init_error"), refusal));
            return 1;
        }
        return serveRequests();
    }

    /**
     * Reads and handles requests while this thread is the reader. A call
     * whose client has nothing else running runs right here (no hand-off
     * between threads) unless other requests wait and calls have been
     * taking long enough that running them in parallel pays.
     */
    private void readRequests() {
        try {
            while (true) {
                byte[] frame = in.next();
                if (frame == null) {
                    break;
                }
                if (handle(frame)) {
                    return;
                }
            }
        } catch (IOException e) {
            log.log("error", "driver " + name + ": reading requests: " + e);
        }
        // The VM went away or closed the port: stop as if disabled.
        stop();
        finished.complete(0);
    }

    /**
     * The reader has run one handler call too long: reading moves to a new
     * thread. The stuck one learns it from {@link Lanes#run} when the call
     * ends, and reads no more; only one thread reads at a time.
     */
    private void readerStuck(Thread stuck) {
        if (finished.isDone()) {
            return;
        }
        Thread next = new Thread(this::readRequests, "exhook-reader");
        next.setDaemon(true);
        next.start();
    }

    /** Builds the handler; null when it is serving, else why not. */
    private Term start(String className, Term init) {
        if (!(init instanceof Tuple t) || t.arity() != 4 || !INIT.equals(t.get(0))) {
            return Term.binary("expected {init, Name, Settings, Opts}");
        }
        name = Decode.anyText(t.get(1));
        Map<String, String> settings = new LinkedHashMap<>();
        if (t.get(2) instanceof ErlList items) {
            for (Term item : items.elements()) {
                if (item instanceof Tuple kv && kv.arity() == 2) {
                    settings.put(Decode.anyText(kv.get(0)), Decode.anyText(kv.get(1)));
                }
            }
        }
        ErlMap opts = t.get(3) instanceof ErlMap m ? m : Term.map(Map.of());
        try {
            long started = System.nanoTime();
            handler = instantiate(className);
            handler.configure(new Config(name, settings));
            handler.init();
            List<HookSpec> specs = handler.getHookSpecs();
            long handlerReady = System.nanoTime();
            // Before the instance takes traffic, as a reload switches it all at once.
            Warmup.Result warm = Warmup.rehearse(name, specs, opts, log);
            prepare(handler, specs, opts);
            List<Term> declared = new ArrayList<>();
            for (HookSpec s : specs) {
                declared.add(Term.tuple(Term.binary(s.hook().brokerName()), POOL));
            }
            log.log("info", "driver " + name + ": " + className + " ready: handler init "
                    + millis(handlerReady - started) + " ms, warm-up " + warm);
            // What init logged comes before the answer, as at deinit.
            log.flush(1000);
            out.send(Term.tuple(Term.atom("init_ok"), Term.list(declared)));
            return null;
        } catch (Throwable e) {
            log.report("driver " + name + ": " + className + " failed to start", e);
            return Term.binary(className + ": " + describe(e));
        }
    }

    /**
     * Serves {@code h} for hooks {@code specs} with the worker pool the init
     * options {@code opts} describe (see the class comment).
     */
    void prepare(DefaultCommunicationHandler h, List<HookSpec> specs, ErlMap opts) {
        handler = h;
        dispatcher = new Dispatcher(h, specs, Decode.text(opts.get("node")));
        int core = (int) Decode.integer(opts.get("pool_size"), 8);
        long spinNs = Math.max(0, Decode.integer(opts.get("spin_us"), 50)) * 1000;
        in.spin(spinNs);
        lanes = new Lanes(core, (int) Decode.integer(opts.get("pool_max"), 256),
                (int) Decode.integer(opts.get("queue_capacity"), 1024), spinNs, this::readerStuck);
    }

    /**
     * Reads and handles requests until {@code deinit} or the end of input,
     * on whichever threads reading moves to; the exit status.
     */
    int serveRequests() {
        readRequests();
        try {
            return finished.get();
        } catch (InterruptedException | ExecutionException e) {
            return 1;
        }
    }

    static long millis(long nanos) {
        return nanos / 1_000_000;
    }

    private static DefaultCommunicationHandler instantiate(String className) throws ReflectiveOperationException {
        Class<?> cls;
        try {
            cls = Class.forName(className, true, ClassLoader.getSystemClassLoader());
        } catch (ClassNotFoundException e) {
            throw new ClassNotFoundException("class not found on the class path "
                    + System.getProperty("java.class.path"));
        }
        if (!DefaultCommunicationHandler.class.isAssignableFrom(cls)) {
            throw new IllegalArgumentException("does not extend " + DefaultCommunicationHandler.class.getName());
        }
        var constructor = cls.getDeclaredConstructor();
        constructor.setAccessible(true);
        return (DefaultCommunicationHandler) constructor.newInstance();
    }

    private static String describe(Throwable e) {
        Throwable cause = e instanceof java.lang.reflect.InvocationTargetException && e.getCause() != null
                ? e.getCause() : e;
        return cause.getMessage() == null ? cause.toString() : cause.getClass().getSimpleName() + ": " + cause.getMessage();
    }

    /** Handles one request frame; true when this thread is to read no more (deinit, or reading moved). */
    private boolean handle(byte[] frame) {
        try {
            Etf.Reader r = new Etf.Reader(frame);
            r.version();
            int arity = r.tupleArity();
            if (arity < 0) {
                Term request = r.term();
                r.end();
                if (DEINIT.equals(request)) {
                    stop();
                    // What deinit logged comes before the answer the VM may close the port on.
                    log.flush(1000);
                    out.send(Term.atom("deinit_ok"));
                    finished.complete(0);
                    return true;
                }
                throw new EtfException("unknown request " + Decode.render(request));
            }
            Term tag = arity > 0 ? r.term() : null;
            boolean call = CALL.equals(tag) && arity == 5;
            if (call || CAST.equals(tag) && arity == 4) {
                Raw id = call ? r.raw() : null;
                Term index = r.term();
                Term args = r.term();
                Term timeout = r.term();
                r.end();
                return submit(id, index, args, timeout);
            }
            throw new EtfException("unknown request " + Decode.render(Etf.decode(frame)));
        } catch (EtfException | BadArgException e) {
            log.log("error", "driver " + name + ": bad request: " + e.getMessage());
        }
        return false;
    }

    /** Runs or queues a call or cast; true when reading moved to another thread meanwhile. */
    private boolean submit(Raw id, Term index, Term args, Term timeout) {
        Hook hook = index instanceof Int i ? Hook.fromIndex(i.value()) : null;
        if (hook == null || !(args instanceof Tuple a) || !(timeout instanceof Int t)) {
            String why = "bad hook index, arguments or timeout";
            if (id != null) {
                out.reply(id, Term.tuple(ERROR, Term.tuple(BADARG, Term.binary(why))));
            }
            throw new BadArgException(why);
        }
        long deadline = System.nanoTime() + Math.min(Math.max(t.value(), 0), 86_400_000L) * 1_000_000L;
        Term key = Dispatcher.clientKey(hook, a);
        boolean here = averageCallNs < HANDOFF_WORTH_NS || !in.hasBufferedFrame();
        Lanes.Placement placed = lanes.run(key, () -> run(id, hook, a, key, deadline), here);
        if (placed == Lanes.Placement.REFUSED) {
            if (id != null) {
                out.reply(id, BUSY);
            } else {
                out.send(Term.tuple(Term.atom("dropped"), Term.integer(hook.ordinal())));
            }
        }
        return placed == Lanes.Placement.RAN_HERE_STUCK;
    }

    private void run(Raw id, Hook hook, Tuple args, Term key, long deadline) {
        if (id != null && System.nanoTime() - deadline > 0) {
            // The caller has stopped waiting; its timeout is its answer.
            return;
        }
        String client = key == null ? null : Decode.text(key);
        Term[] result = {null};
        long start = System.nanoTime();
        LogSink.inScope(hook.brokerName(), client, () -> result[0] = call(hook, args, client, id == null));
        averageCallNs += (System.nanoTime() - start - averageCallNs) / 16;
        if (id != null) {
            out.reply(id, result[0]);
        }
    }

    private Term call(Hook hook, Tuple args, String client, boolean cast) {
        try {
            return dispatcher.dispatch(hook, args);
        } catch (BadArgException e) {
            if (cast) {
                log.log("error", "driver " + name + ": " + hook.brokerName() + forClient(client)
                        + ": bad arguments: " + e.getMessage());
            }
            return Term.tuple(ERROR, Term.tuple(BADARG, Term.binary(e.getMessage())));
        } catch (Throwable e) {
            log.report("driver " + name + ": " + hook.brokerName() + forClient(client) + " threw", e);
            return Term.tuple(ERROR, Term.tuple(EXCEPTION, Term.binary(describe(e))));
        }
    }

    private static String forClient(String client) {
        return client == null ? "" : " for client " + client;
    }

    /** Finishes queued work, then the handler's deinit. */
    private void stop() {
        if (lanes != null && !lanes.shutdown(DRAIN_MS)) {
            log.log("warning", "driver " + name + ": calls still running at deinit: " + lanes.pending());
        }
        if (handler != null) {
            try {
                handler.deinit();
            } catch (Throwable e) {
                log.report("driver " + name + ": deinit", e);
            }
        }
    }

    private Term read() throws IOException {
        byte[] frame = in.next();
        if (frame == null) {
            return null;
        }
        try {
            return Etf.decode(frame);
        } catch (EtfException e) {
            return Term.binary("bad init request: " + e.getMessage());
        }
    }

}
