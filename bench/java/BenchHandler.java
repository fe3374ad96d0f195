import io.emqx.extension.handler.AclDecision;
import io.emqx.extension.handler.ActionOptionConfig;
import io.emqx.extension.handler.AuthDecision;
import io.emqx.extension.handler.DefaultCommunicationHandler;
import io.emqx.extension.handler.DeliveredDecision;
import io.emqx.extension.handler.MessageRewrite;
import io.emqx.extension.handler.PublishDecision;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Topic;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Java twin of the benchmark's Rust handler ({@code bench/handler}), so
 * that the Java rows of {@code make bench} give the broker the same answers
 * as the Rust handler behind the Port launcher, their baseline:
 *
 * <ul>
 *   <li>{@code client.authenticate}: allow a non-empty clientid that comes
 *       with a password or a username, deny anything else; a clientid that
 *       starts with {@code bench-slow-} first sleeps 100 ms;</li>
 *   <li>{@code client.check_acl}: deny when the username is empty or
 *       missing, else allow;</li>
 *   <li>{@code client.connected}: read the clientid and count;</li>
 *   <li>{@code message.publish}: read the topic and the payload length,
 *       continue;</li>
 *   <li>{@code message.delivered}: the benchmark's probe, never timed: a
 *       message on {@code $bench/connected} comes back with the payload
 *       {@code "<OS pid> <client.connected events counted>"}. Queued behind
 *       a client's notifications (same clientid, same JVM, same lane), it
 *       answers once they are handled.</li>
 * </ul>
 */
public class BenchHandler extends DefaultCommunicationHandler {

    private static final String COUNT_TOPIC = "$bench/connected";
    private static final String SLOW_PREFIX = "bench-slow-";
    private static final long SLOW_CALL_MS = 100;

    private final AtomicLong connected = new AtomicLong();
    private final AtomicLong publishedBytes = new AtomicLong();

    /** Creates the handler; its only state is two counters. */
    public BenchHandler() {}

    /**
     * No topic filters, as the Rust handler has: every message hook for
     * every message, {@code $bench/connected} included (the original's
     * default {@code #} leaves out {@code $} topics).
     */
    @Override
    public ActionOptionConfig getActionOption() {
        return new ActionOptionConfig();
    }

    private static boolean nonEmpty(String s) {
        return s != null && !s.isEmpty();
    }

    @Override
    public AuthDecision decideClientAuthenticate(ClientInfo client, boolean authresult) {
        if (client.clientId.startsWith(SLOW_PREFIX)) {
            try {
                Thread.sleep(SLOW_CALL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        boolean hasSecret = nonEmpty(client.password) || nonEmpty(client.userName);
        return !client.clientId.isEmpty() && hasSecret ? AuthDecision.ALLOW : AuthDecision.DENY;
    }

    @Override
    public AclDecision decideClientCheckAcl(ClientInfo client, PubSub pubsub, Topic topic, boolean result) {
        return nonEmpty(client.userName) ? AclDecision.ALLOW : AclDecision.DENY;
    }

    @Override
    public void onClientConnected(ClientInfo client) {
        connected.addAndGet(client.clientId.isEmpty() ? 0 : 1);
    }

    @Override
    public PublishDecision decideMessagePublish(Message message) {
        publishedBytes.addAndGet(message.topic.length() + (long) message.payload.length);
        return PublishDecision.proceed();
    }

    @Override
    public DeliveredDecision decideMessageDelivered(ClientInfo client, Message message) {
        if (!COUNT_TOPIC.equals(message.topic)) {
            return DeliveredDecision.proceed();
        }
        String payload = ProcessHandle.current().pid() + " " + connected.get();
        return DeliveredDecision.rewrite(new MessageRewrite().payload(payload));
    }
}
