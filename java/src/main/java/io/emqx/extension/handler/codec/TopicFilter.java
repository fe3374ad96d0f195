package io.emqx.extension.handler.codec;

import java.util.Objects;

/** One topic filter of a SUBSCRIBE or UNSUBSCRIBE, with its requested QoS. */
public class TopicFilter {

    /** The filter. */
    public final String topic;
    /** The requested QoS (0 for an unsubscribe). */
    public final int qos;

    /**
     * A filter.
     *
     * @param topic the filter
     * @param qos the QoS
     */
    public TopicFilter(String topic, int qos) {
        this.topic = topic;
        this.qos = qos;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TopicFilter f && qos == f.qos && Objects.equals(topic, f.topic);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, qos);
    }

    @Override
    public String toString() {
        return topic + " (qos " + qos + ")";
    }
}
