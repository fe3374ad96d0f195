package io.emqx.extension.etf;

/** Bytes that are not a well-formed term, or a term that cannot be written. */
public final class EtfException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /**
     * An error with its explanation.
     *
     * @param message what is wrong, and where
     */
    public EtfException(String message) {
        super(message);
    }
}
