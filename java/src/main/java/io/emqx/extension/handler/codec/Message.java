package io.emqx.extension.handler.codec;

/**
 * A published message, from the broker's {@code #message{}} record.
 *
 * <p>The fields can be changed: {@code onMessagePublish} returns the message,
 * and a changed {@link #topic}, {@link #qos} or {@link #payload} is what the
 * broker publishes (the other fields are informational). {@link #toString()}
 * gives the payload's size, never its bytes.
 */
public class Message {

    /** The broker node's name, when known, else null. */
    public String node;
    /** The broker's 16-byte message id, as lowercase hex. */
    public String id;
    /** 0, 1 or 2. */
    public int qos;
    /** The publisher's clientid. */
    public String from;
    /** The topic. */
    public String topic;
    /** The payload. */
    public byte[] payload;
    /** When the message was created, in ms since the epoch. */
    public long timestamp;
    /** Whether it is a retained message. */
    public boolean retain;

    /**
     * The original SDK's constructor.
     *
     * @param node the node
     * @param id the id as hex
     * @param qos the QoS
     * @param from the publisher's clientid
     * @param topic the topic
     * @param payload the payload
     * @param timestamp the creation time
     */
    public Message(String node, String id, int qos, String from, String topic, byte[] payload, long timestamp) {
        this.node = node;
        this.id = id;
        this.qos = qos;
        this.from = from;
        this.topic = topic;
        this.payload = payload;
        this.timestamp = timestamp;
    }

    @Override
    public String toString() {
        return "Message(id=" + id + ", qos=" + qos + ", from=" + from + ", topic=" + topic
                + ", payload=" + (payload == null ? 0 : payload.length) + " bytes, timestamp=" + timestamp
                + ", retain=" + retain + ")";
    }
}
