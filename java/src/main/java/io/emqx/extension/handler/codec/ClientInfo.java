package io.emqx.extension.handler.codec;

/**
 * The client's identity, from the broker's ClientInfo.
 *
 * <p>{@link #toString()} leaves the password out: handlers print these to
 * the broker's log.
 */
public class ClientInfo {

    /** The broker node's name, when the driver knows it, else null. */
    public final String node;
    /** The MQTT client identifier. */
    public final String clientId;
    /** The username, null when the client sent none. */
    public final String userName;
    /** The password as UTF-8 text, only in {@code client.authenticate}; else null. */
    public final String password;
    /** The client's IP address as text ({@code 127.0.0.1}, {@code 2001:db8::1}), or null. */
    public final String peerHost;
    /** The listener port the client connected to. */
    public final int sockPort;
    /** {@code mqtt}, {@code mqtt-sn}, {@code coap}, {@code lwm2m}, ... */
    public final String protocol;
    /** The mountpoint, or null. */
    public final String mountPoint;
    /** Whether the client is a superuser. */
    public final boolean isSuperUser;
    /** Whether the client was let in anonymously (false before authentication). */
    public final boolean anonymous;
    /** The listener zone ({@code external}, {@code internal}, ...), or null. */
    public final String zone;
    /** Whether the client is a bridge. */
    public final boolean isBridge;
    /** The TLS client certificate's common name, or null. */
    public final String cn;
    /** The TLS client certificate's distinguished name, or null. */
    public final String dn;

    /**
     * The original SDK's constructor.
     *
     * @param node the node
     * @param clientId the client id
     * @param userName the username
     * @param password the password
     * @param peerHost the client's address
     * @param sockPort the listener port
     * @param protocol the protocol
     * @param mountPoint the mountpoint
     * @param isSuperUser superuser or not
     * @param anonymous anonymous or not
     */
    public ClientInfo(String node, String clientId, String userName, String password, String peerHost,
            int sockPort, String protocol, String mountPoint, boolean isSuperUser, boolean anonymous) {
        this(node, clientId, userName, password, peerHost, sockPort, protocol, mountPoint, isSuperUser,
                anonymous, null, false, null, null);
    }

    /**
     * Every field.
     *
     * @param node the node
     * @param clientId the client id
     * @param userName the username
     * @param password the password
     * @param peerHost the client's address
     * @param sockPort the listener port
     * @param protocol the protocol
     * @param mountPoint the mountpoint
     * @param isSuperUser superuser or not
     * @param anonymous anonymous or not
     * @param zone the zone
     * @param isBridge bridge or not
     * @param cn the certificate's common name
     * @param dn the certificate's distinguished name
     */
    public ClientInfo(String node, String clientId, String userName, String password, String peerHost,
            int sockPort, String protocol, String mountPoint, boolean isSuperUser, boolean anonymous,
            String zone, boolean isBridge, String cn, String dn) {
        this.node = node;
        this.clientId = clientId;
        this.userName = userName;
        this.password = password;
        this.peerHost = peerHost;
        this.sockPort = sockPort;
        this.protocol = protocol;
        this.mountPoint = mountPoint;
        this.isSuperUser = isSuperUser;
        this.anonymous = anonymous;
        this.zone = zone;
        this.isBridge = isBridge;
        this.cn = cn;
        this.dn = dn;
    }

    @Override
    public String toString() {
        return "ClientInfo(clientId=" + clientId + ", userName=" + userName
                + ", password=" + (password == null ? "none" : "***") + ", peerHost=" + peerHost
                + ", sockPort=" + sockPort + ", protocol=" + protocol + ", mountPoint=" + mountPoint
                + ", isSuperUser=" + isSuperUser + ", anonymous=" + anonymous + ", zone=" + zone + ")";
    }
}
