package io.emqx.extension.handler;

/**
 * The broker's 19 hook points, in the order of their index in the Port
 * protocol, with the handler methods that handle each.
 */
public enum Hook {
    /** {@code client.connect}. */
    CLIENT_CONNECT("client.connect", "onClientConnect", "decideClientConnect"),
    /** {@code client.connack}. */
    CLIENT_CONNACK("client.connack", "onClientConnack", null),
    /** {@code client.connected}. */
    CLIENT_CONNECTED("client.connected", "onClientConnected", null),
    /** {@code client.disconnected}. */
    CLIENT_DISCONNECTED("client.disconnected", "onClientDisconnected", null),
    /** {@code client.authenticate}. */
    CLIENT_AUTHENTICATE("client.authenticate", "onClientAuthenticate", "decideClientAuthenticate"),
    /** {@code client.check_acl}. */
    CLIENT_CHECK_ACL("client.check_acl", "onClientCheckAcl", "decideClientCheckAcl"),
    /** {@code client.subscribe}. */
    CLIENT_SUBSCRIBE("client.subscribe", "onClientSubscribe", "decideClientSubscribe"),
    /** {@code client.unsubscribe}. */
    CLIENT_UNSUBSCRIBE("client.unsubscribe", "onClientUnsubscribe", null),
    /** {@code session.created}. */
    SESSION_CREATED("session.created", "onSessionCreated", null),
    /** {@code session.subscribed}. */
    SESSION_SUBSCRIBED("session.subscribed", "onSessionSubscribed", null),
    /** {@code session.unsubscribed}. */
    SESSION_UNSUBSCRIBED("session.unsubscribed", "onSessionUnsubscribed", null),
    /** {@code session.resumed}. */
    SESSION_RESUMED("session.resumed", "onSessionResumed", null),
    /** {@code session.discarded}. */
    SESSION_DISCARDED("session.discarded", "onSessionDiscarded", null),
    /** {@code session.takeovered}. */
    SESSION_TAKEOVERED("session.takeovered", "onSessionTakeovered", null),
    /** {@code session.terminated}. */
    SESSION_TERMINATED("session.terminated", "onSessionTerminated", null),
    /** {@code message.publish}. */
    MESSAGE_PUBLISH("message.publish", "onMessagePublish", "decideMessagePublish"),
    /** {@code message.delivered}. */
    MESSAGE_DELIVERED("message.delivered", "onMessageDelivered", "decideMessageDelivered"),
    /** {@code message.acked}. */
    MESSAGE_ACKED("message.acked", "onMessageAcked", null),
    /** {@code message.dropped}. */
    MESSAGE_DROPPED("message.dropped", "onMessageDropped", null);

    private static final Hook[] ALL = values();

    private final String brokerName;
    private final String method;
    private final String decideMethod;

    Hook(String brokerName, String method, String decideMethod) {
        this.brokerName = brokerName;
        this.method = method;
        this.decideMethod = decideMethod;
    }

    /**
     * The broker's name of the hook point, e.g. {@code "client.connect"}.
     *
     * @return the name
     */
    public String brokerName() {
        return brokerName;
    }

    /**
     * The original SDK's method for this hook, e.g. {@code "onClientConnect"}.
     *
     * @return the method name
     */
    public String method() {
        return method;
    }

    /**
     * The method returning a typed decision, e.g. {@code "decideClientConnect"};
     * {@code null} for hooks that take no decision.
     *
     * @return the method name or null
     */
    public String decideMethod() {
        return decideMethod;
    }

    /**
     * Whether the hook carries a message (the hooks topic filters apply to).
     *
     * @return true for the four message hooks
     */
    public boolean carriesMessage() {
        return this == MESSAGE_PUBLISH || this == MESSAGE_DELIVERED
                || this == MESSAGE_ACKED || this == MESSAGE_DROPPED;
    }

    /**
     * The hook with protocol index {@code index} (0..18), or null.
     *
     * @param index the index
     * @return the hook or null
     */
    public static Hook fromIndex(long index) {
        return index >= 0 && index < ALL.length ? ALL[(int) index] : null;
    }
}
