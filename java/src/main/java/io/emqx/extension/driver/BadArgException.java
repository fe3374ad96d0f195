package io.emqx.extension.driver;

/**
 * Hook arguments of a shape the hook cannot work with; answered
 * {@code {error, {badarg, Text}}}.
 */
public final class BadArgException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * An error naming what was wrong.
     *
     * @param message the explanation
     */
    public BadArgException(String message) {
        super(message);
    }
}
