package io.emqx.extension.handler.codec;

/** The connection's facts, from the broker's ConnInfo. */
public class ConnInfo {

    /** The broker node's name, when the driver knows it, else null. */
    public final String node;
    /** The MQTT client identifier, or null before CONNECT. */
    public final String clientId;
    /** The username, null when the client sent none. */
    public final String userName;
    /** The client's IP address as text, or null. */
    public final String peerHost;
    /** The listener port. */
    public final int sockPort;
    /** {@code MQTT} or {@code MQIsdp}, or null before CONNECT. */
    public final String protoName;
    /** 3, 4 or 5; 0 before CONNECT. */
    public final int protoVersion;
    /** The keepalive in seconds. */
    public final int keepalive;

    /**
     * The original SDK's constructor.
     *
     * @param node the node
     * @param clientId the client id
     * @param userName the username
     * @param peerHost the client's address
     * @param sockPort the listener port
     * @param protoName the protocol name
     * @param protoVersion the protocol version
     * @param keepalive the keepalive
     */
    public ConnInfo(String node, String clientId, String userName, String peerHost,
            int sockPort, String protoName, int protoVersion, int keepalive) {
        this.node = node;
        this.clientId = clientId;
        this.userName = userName;
        this.peerHost = peerHost;
        this.sockPort = sockPort;
        this.protoName = protoName;
        this.protoVersion = protoVersion;
        this.keepalive = keepalive;
    }

    @Override
    public String toString() {
        return "ConnInfo(clientId=" + clientId + ", userName=" + userName + ", peerHost=" + peerHost
                + ", sockPort=" + sockPort + ", protoName=" + protoName + ", protoVersion=" + protoVersion
                + ", keepalive=" + keepalive + ")";
    }
}
