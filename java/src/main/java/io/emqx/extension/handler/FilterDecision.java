package io.emqx.extension.handler;

/**
 * The answer to {@code client.subscribe} for one topic filter, from
 * {@link DefaultCommunicationHandler#decideClientSubscribe}.
 *
 * <pre>{@code
 * FilterDecision d = FilterDecision.rewrite("users/alice/inbox");
 * assert d.kind() == FilterDecision.Kind.REWRITE;
 * }</pre>
 *
 * @param kind keep, rewrite or deny
 * @param filter the new filter for {@link Kind#REWRITE}, else null
 */
public record FilterDecision(Kind kind, String filter) {

    /** What happens to the filter. */
    public enum Kind {
        /** Subscribe as requested. */
        KEEP,
        /** Subscribe to another filter instead, with the same options. */
        REWRITE,
        /** Refuse this filter (the client gets 0x80 in the SUBACK for it). */
        DENY
    }

    private static final FilterDecision KEEP = new FilterDecision(Kind.KEEP, null);
    private static final FilterDecision DENY = new FilterDecision(Kind.DENY, null);

    /**
     * Checks that a rewrite has a valid filter, and only a rewrite has one.
     *
     * @param kind keep, rewrite or deny
     * @param filter the new filter for a rewrite
     */
    public FilterDecision {
        if (kind == null || (kind == Kind.REWRITE) != (filter != null)) {
            throw new IllegalArgumentException("a rewrite, and only a rewrite, names a filter");
        }
        if (filter != null && Topics.problem(filter) != null) {
            throw new IllegalArgumentException(Topics.problem(filter));
        }
    }

    /**
     * Subscribe as requested.
     *
     * @return the decision
     */
    public static FilterDecision keep() {
        return KEEP;
    }

    /**
     * Refuse this filter.
     *
     * @return the decision
     */
    public static FilterDecision deny() {
        return DENY;
    }

    /**
     * Subscribe to {@code filter} instead.
     *
     * @param filter a valid topic filter
     * @return the decision
     */
    public static FilterDecision rewrite(String filter) {
        return new FilterDecision(Kind.REWRITE, filter);
    }
}
