package io.emqx.extension.handler;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * A change to a message: the fields set are replaced, the others stay as
 * the broker had them (flags, headers, id, timestamp always stay).
 *
 * <pre>{@code
 * MessageRewrite r = new MessageRewrite().topic("v2/a").qos(1);
 * assert r.getTopic().equals("v2/a") && r.getPayload() == null;
 * }</pre>
 */
public final class MessageRewrite {

    private String topic;
    private byte[] payload;
    private Integer qos;

    /** A rewrite that changes nothing yet. */
    public MessageRewrite() {}

    /**
     * Sets the new topic.
     *
     * @param topic the topic name
     * @return this
     */
    public MessageRewrite topic(String topic) {
        this.topic = Objects.requireNonNull(topic, "topic");
        return this;
    }

    /**
     * Sets the new payload.
     *
     * @param payload the bytes (copied)
     * @return this
     */
    public MessageRewrite payload(byte[] payload) {
        this.payload = Objects.requireNonNull(payload, "payload").clone();
        return this;
    }

    /**
     * Sets the new payload to {@code text} in UTF-8.
     *
     * @param text the text
     * @return this
     */
    public MessageRewrite payload(String text) {
        this.payload = text.getBytes(StandardCharsets.UTF_8);
        return this;
    }

    /**
     * Sets the new QoS; values outside 0..2 are clamped.
     *
     * @param qos 0, 1 or 2
     * @return this
     */
    public MessageRewrite qos(int qos) {
        this.qos = Math.max(0, Math.min(2, qos));
        return this;
    }

    /**
     * The new topic, or null to keep it.
     *
     * @return the topic or null
     */
    public String getTopic() {
        return topic;
    }

    /**
     * The new payload, or null to keep it.
     *
     * @return a copy of the payload or null
     */
    public byte[] getPayload() {
        return payload == null ? null : payload.clone();
    }

    /**
     * The new QoS, or null to keep it.
     *
     * @return the QoS or null
     */
    public Integer getQos() {
        return qos;
    }

    /**
     * Whether nothing is changed.
     *
     * @return true when no field is set
     */
    public boolean isEmpty() {
        return topic == null && payload == null && qos == null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MessageRewrite r && Objects.equals(topic, r.topic)
                && Arrays.equals(payload, r.payload) && Objects.equals(qos, r.qos);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, qos) * 31 + Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return "MessageRewrite(topic=" + topic + ", qos=" + qos
                + ", payload=" + (payload == null ? "unchanged" : payload.length + " bytes") + ")";
    }
}
