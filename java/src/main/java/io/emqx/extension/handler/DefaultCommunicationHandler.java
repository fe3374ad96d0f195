package io.emqx.extension.handler;

import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.PubSub;
import io.emqx.extension.handler.codec.Reason;
import io.emqx.extension.handler.codec.ReturnCode;
import io.emqx.extension.handler.codec.SubscribeOption;
import io.emqx.extension.handler.codec.Topic;
import io.emqx.extension.handler.codec.TopicFilter;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The base class of hook handlers: a subclass declares the methods of the
 * hooks it handles, and only those hooks are registered with the broker.
 *
 * <p>Each hook has the original SDK's {@code onXxx} method (same name and
 * signature, so a handler written for the original compiles unchanged).
 * The six hooks whose result the broker uses also have a {@code decideXxx}
 * method returning a typed decision, which can express every answer the
 * broker understands (refuse a connection with a reason code, rewrite a
 * subscription, drop a message, ...). Declare one of the two per hook.
 *
 * <p>Methods are called concurrently from several threads, one client's
 * events in order; a handler keeps shared state thread-safe. What it prints
 * to {@code System.out} or {@code System.err} goes to the broker's log (info
 * and error level), one log entry per line. An exception thrown by a method
 * is logged with its stack trace, and the broker applies the driver's
 * failure policy to that event.
 *
 * <pre>{@code
 * public class Main extends DefaultCommunicationHandler {
 *     public boolean onClientAuthenticate(ClientInfo client, boolean authresult) {
 *         return client.userName != null;          // original style: allow or deny
 *     }
 *
 *     public PublishDecision decideMessagePublish(Message message) {
 *         return message.topic.startsWith("blocked/")
 *                 ? PublishDecision.drop() : PublishDecision.proceed();
 *     }
 * }
 * }</pre>
 */
public class DefaultCommunicationHandler implements CommunicationHandler {

    private volatile Config config = new Config("", Map.of());

    /** A handler; the driver builds it through this no-argument constructor. */
    public DefaultCommunicationHandler() {}

    /**
     * Receives the driver's settings, before {@link #init()}. Override it
     * (calling super) to read settings as soon as they are known.
     *
     * @param config the settings
     */
    public void configure(Config config) {
        this.config = config;
    }

    /**
     * The driver's settings ({@code exhook.drivers.NAME.*}).
     *
     * @return the settings
     */
    public final Config getConfig() {
        return config;
    }

    /**
     * Called once before any hook; override it (calling super) to set up
     * connections or caches. An exception refuses the driver's start.
     *
     * @return the hooks this handler registers, see {@link #getHookSpecs()}
     */
    @Override
    public Object init() {
        return getHookSpecs();
    }

    /** Called once when the driver stops. */
    @Override
    public void deinit() {}

    /**
     * The topic filters of the message hooks; the original's default is
     * {@code #} for each (every topic but {@code $} topics).
     *
     * @return the filters
     */
    public ActionOptionConfig getActionOption() {
        return ActionOptionConfig.getDefault();
    }

    /**
     * The hooks this handler registers: one per {@code onXxx} or
     * {@code decideXxx} method its class declares, with the topic filters
     * of {@link #getActionOption()}.
     *
     * @return the hooks, in protocol order
     * @throws IllegalStateException naming every problem: both methods of
     *     one hook declared, an invalid topic filter, an unknown option key
     */
    public final List<HookSpec> getHookSpecs() {
        ActionOptionConfig options = getActionOption();
        if (options == null) {
            options = new ActionOptionConfig();
        }
        List<String> problems = new ArrayList<>();
        for (String key : options.unknownKeys()) {
            problems.add("getActionOption(): unknown key " + key);
        }
        List<HookSpec> specs = new ArrayList<>();
        for (Hook hook : Hook.values()) {
            boolean original = declares(hook.method());
            boolean typed = hook.decideMethod() != null && declares(hook.decideMethod());
            if (original && typed) {
                problems.add("declare " + hook.method() + " or " + hook.decideMethod() + ", not both");
            }
            List<String> topics = options.filters(hook);
            for (String filter : topics) {
                String problem = Topics.problem(filter);
                if (problem != null) {
                    problems.add(hook.brokerName() + ": " + problem);
                }
            }
            if (original || typed) {
                specs.add(new HookSpec(hook, typed, topics));
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException(String.join("; ", problems));
        }
        return List.copyOf(specs);
    }

    /** Whether this object's class overrides the base method named {@code name}. */
    private boolean declares(String name) {
        for (Method base : DefaultCommunicationHandler.class.getDeclaredMethods()) {
            if (!base.getName().equals(name)) {
                continue;
            }
            try {
                Method m = getClass().getMethod(name, base.getParameterTypes());
                return m.getDeclaringClass() != DefaultCommunicationHandler.class;
            } catch (NoSuchMethodException e) {
                return false;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------- clients

    /**
     * {@code client.connect}: a client sent CONNECT.
     *
     * @param connInfo the connection
     * @param props the CONNECT properties
     */
    public void onClientConnect(ConnInfo connInfo, Property[] props) {}

    /**
     * {@code client.connect}, deciding: go on or refuse the connection.
     *
     * @param connInfo the connection
     * @param props the CONNECT properties
     * @return the decision
     */
    public ConnectDecision decideClientConnect(ConnInfo connInfo, Property[] props) {
        return ConnectDecision.accept();
    }

    /**
     * {@code client.connack}: the broker answers CONNECT.
     *
     * @param connInfo the connection
     * @param rc the result, e.g. {@code success}
     * @param props the CONNACK properties
     */
    public void onClientConnack(ConnInfo connInfo, ReturnCode rc, Property[] props) {}

    /**
     * {@code client.connected}: the client is in.
     *
     * @param clientInfo the client
     */
    public void onClientConnected(ClientInfo clientInfo) {}

    /**
     * {@code client.disconnected}: the client is gone.
     *
     * @param clientInfo the client
     * @param reason why
     */
    public void onClientDisconnected(ClientInfo clientInfo, Reason reason) {}

    /**
     * {@code client.authenticate}, original style: {@code true} lets the
     * client in, {@code false} refuses the login; either way no later
     * handler is asked.
     *
     * @param clientInfo the client, with its password
     * @param authresult whether the login would succeed so far
     * @return allow or deny
     */
    public boolean onClientAuthenticate(ClientInfo clientInfo, boolean authresult) {
        return authresult;
    }

    /**
     * {@code client.authenticate}, deciding (including superuser and "no opinion").
     *
     * @param clientInfo the client, with its password
     * @param authresult whether the login would succeed so far
     * @return the decision
     */
    public AuthDecision decideClientAuthenticate(ClientInfo clientInfo, boolean authresult) {
        return AuthDecision.IGNORE;
    }

    /**
     * {@code client.check_acl}, original style: {@code true} allows,
     * {@code false} denies.
     *
     * @param clientInfo the client
     * @param pubsub publish or subscribe
     * @param topic the topic or filter
     * @param result the broker's answer so far
     * @return allow or deny
     */
    public boolean onClientCheckAcl(ClientInfo clientInfo, PubSub pubsub, Topic topic, boolean result) {
        return result;
    }

    /**
     * {@code client.check_acl}, deciding (including "no opinion").
     *
     * @param clientInfo the client
     * @param pubsub publish or subscribe
     * @param topic the topic or filter
     * @param result the broker's answer so far
     * @return the decision
     */
    public AclDecision decideClientCheckAcl(ClientInfo clientInfo, PubSub pubsub, Topic topic, boolean result) {
        return AclDecision.IGNORE;
    }

    /**
     * {@code client.subscribe}: a SUBSCRIBE, all its filters at once.
     *
     * @param clientInfo the client
     * @param props the SUBSCRIBE properties
     * @param topic the filters
     */
    public void onClientSubscribe(ClientInfo clientInfo, Property[] props, TopicFilter[] topic) {}

    /**
     * {@code client.subscribe}, deciding for each filter of a SUBSCRIBE in
     * turn: keep, rewrite or deny it.
     *
     * @param clientInfo the client
     * @param props the SUBSCRIBE properties
     * @param filter one filter
     * @return the decision for that filter
     */
    public FilterDecision decideClientSubscribe(ClientInfo clientInfo, Property[] props, TopicFilter filter) {
        return FilterDecision.keep();
    }

    /**
     * {@code client.unsubscribe}: an UNSUBSCRIBE.
     *
     * @param clientInfo the client
     * @param props the UNSUBSCRIBE properties
     * @param topic the filters
     */
    public void onClientUnsubscribe(ClientInfo clientInfo, Property[] props, TopicFilter[] topic) {}

    // --------------------------------------------------------------- sessions

    /**
     * {@code session.created}.
     *
     * @param clientInfo the client
     */
    public void onSessionCreated(ClientInfo clientInfo) {}

    /**
     * {@code session.subscribed}: a subscription was added.
     *
     * @param clientInfo the client
     * @param topic the filter
     * @param opts its options
     */
    public void onSessionSubscribed(ClientInfo clientInfo, Topic topic, SubscribeOption opts) {}

    /**
     * {@code session.unsubscribed}: a subscription was removed.
     *
     * @param clientInfo the client
     * @param topic the filter
     */
    public void onSessionUnsubscribed(ClientInfo clientInfo, Topic topic) {}

    /**
     * {@code session.resumed}.
     *
     * @param clientInfo the client
     */
    public void onSessionResumed(ClientInfo clientInfo) {}

    /**
     * {@code session.discarded}.
     *
     * @param clientInfo the client
     */
    public void onSessionDiscarded(ClientInfo clientInfo) {}

    /**
     * {@code session.takeovered}.
     *
     * @param clientInfo the client
     */
    public void onSessionTakeovered(ClientInfo clientInfo) {}

    /**
     * {@code session.terminated}.
     *
     * @param clientInfo the client
     * @param reason why
     */
    public void onSessionTerminated(ClientInfo clientInfo, Reason reason) {}

    // --------------------------------------------------------------- messages

    /**
     * {@code message.publish}, original style: the message to publish. A
     * changed topic, QoS or payload is published instead; {@code null} or
     * the message unchanged publishes it as it is.
     *
     * @param message the message
     * @return the message to publish
     */
    public Message onMessagePublish(Message message) {
        return message;
    }

    /**
     * {@code message.publish}, deciding: publish, rewrite or drop.
     *
     * @param message the message
     * @return the decision
     */
    public PublishDecision decideMessagePublish(Message message) {
        return PublishDecision.proceed();
    }

    /**
     * {@code message.dropped}: a message nobody received.
     *
     * @param message the message
     * @param reason why, e.g. {@code no_subscribers}
     */
    public void onMessageDropped(Message message, Reason reason) {}

    /**
     * {@code message.delivered}: a message is being delivered to a subscriber.
     *
     * @param clientInfo the subscriber
     * @param message the message
     */
    public void onMessageDelivered(ClientInfo clientInfo, Message message) {}

    /**
     * {@code message.delivered}, deciding what this subscriber receives.
     *
     * @param clientInfo the subscriber
     * @param message the message
     * @return the decision
     */
    public DeliveredDecision decideMessageDelivered(ClientInfo clientInfo, Message message) {
        return DeliveredDecision.proceed();
    }

    /**
     * {@code message.acked}: a subscriber acknowledged a message.
     *
     * @param clientInfo the subscriber
     * @param message the message
     */
    public void onMessageAcked(ClientInfo clientInfo, Message message) {}
}
