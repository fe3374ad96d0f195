package io.emqx.extension.handler.codec;

/** The options of one subscription (MQTT 5 section 3.8.3.1). */
public class SubscribeOption {

    /** Whether it is a new subscription (in {@code session.subscribed}). */
    public final boolean isNew;
    /** The maximum QoS: 0, 1 or 2. */
    public final int qos;
    /** No Local. */
    public final int nl;
    /** Retain As Published. */
    public final int rap;
    /** Retain Handling. */
    public final int rh;

    /**
     * The original SDK's constructor.
     *
     * @param isNew a new subscription or not
     * @param nl No Local
     * @param qos the QoS
     * @param rap Retain As Published
     * @param rh Retain Handling
     */
    public SubscribeOption(boolean isNew, int nl, int qos, int rap, int rh) {
        this.isNew = isNew;
        this.nl = nl;
        this.qos = qos;
        this.rap = rap;
        this.rh = rh;
    }

    @Override
    public String toString() {
        return "SubscribeOption(isNew=" + isNew + ", qos=" + qos + ", nl=" + nl + ", rap=" + rap + ", rh=" + rh + ")";
    }
}
