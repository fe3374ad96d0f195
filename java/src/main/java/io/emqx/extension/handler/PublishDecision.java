package io.emqx.extension.handler;

import java.util.Objects;

/**
 * The answer to {@code message.publish}, from
 * {@link DefaultCommunicationHandler#decideMessagePublish}.
 *
 * <pre>{@code
 * PublishDecision d = PublishDecision.rewrite(new MessageRewrite().payload("redacted"));
 * assert d.kind() == PublishDecision.Kind.REWRITE;
 * }</pre>
 *
 * @param kind continue, rewrite or drop
 * @param rewrite the change for {@link Kind#REWRITE}, else null
 */
public record PublishDecision(Kind kind, MessageRewrite rewrite) {

    /** What happens to the message. */
    public enum Kind {
        /** Publish it as it is. */
        CONTINUE,
        /** Publish the changed message; later hooks see the change. */
        REWRITE,
        /** Deliver it to no one ({@code allow_publish => false}); no later hook is asked. */
        DROP
    }

    private static final PublishDecision PROCEED = new PublishDecision(Kind.CONTINUE, null);
    private static final PublishDecision DROP = new PublishDecision(Kind.DROP, null);

    /**
     * Checks that a rewrite, and only a rewrite, carries a change.
     *
     * @param kind continue, rewrite or drop
     * @param rewrite the change for a rewrite
     */
    public PublishDecision {
        if (kind == null || (kind == Kind.REWRITE) != (rewrite != null)) {
            throw new IllegalArgumentException("a rewrite, and only a rewrite, carries a change");
        }
    }

    /**
     * Publish as it is.
     *
     * @return the decision
     */
    public static PublishDecision proceed() {
        return PROCEED;
    }

    /**
     * Do not deliver the message.
     *
     * @return the decision
     */
    public static PublishDecision drop() {
        return DROP;
    }

    /**
     * Publish the message changed by {@code rewrite}.
     *
     * @param rewrite the change
     * @return the decision
     */
    public static PublishDecision rewrite(MessageRewrite rewrite) {
        return new PublishDecision(Kind.REWRITE, Objects.requireNonNull(rewrite, "rewrite"));
    }
}
