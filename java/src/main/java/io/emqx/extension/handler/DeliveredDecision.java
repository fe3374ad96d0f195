package io.emqx.extension.handler;

import java.util.Objects;

/**
 * The answer to {@code message.delivered}: what this one subscriber
 * receives, from {@link DefaultCommunicationHandler#decideMessageDelivered}.
 *
 * <pre>{@code
 * DeliveredDecision d = DeliveredDecision.rewrite(new MessageRewrite().payload("for you"));
 * assert d.rewrite() != null;
 * }</pre>
 *
 * @param rewrite the change, or null to deliver the message as it is
 */
public record DeliveredDecision(MessageRewrite rewrite) {

    private static final DeliveredDecision PROCEED = new DeliveredDecision(null);

    /**
     * Deliver as it is.
     *
     * @return the decision
     */
    public static DeliveredDecision proceed() {
        return PROCEED;
    }

    /**
     * Deliver the message changed by {@code rewrite} to this subscriber.
     *
     * @param rewrite the change
     * @return the decision
     */
    public static DeliveredDecision rewrite(MessageRewrite rewrite) {
        return new DeliveredDecision(Objects.requireNonNull(rewrite, "rewrite"));
    }
}
