package io.emqx.extension.handler.codec;

import java.util.Objects;

/** Why something ended (a disconnect, a terminated session, a dropped message): an atom's name or the term printed, e.g. {@code "normal"}, {@code "no_subscribers"}. */
public class Reason {

    /** The text. */
    public final String value;

    /**
     * A Reason of {@code value}.
     *
     * @param value the text
     */
    public Reason(String value) {
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Reason other && Objects.equals(value, other.value);
    }

    @Override
    public int hashCode() {
        return Objects.hashCode(value);
    }

    @Override
    public String toString() {
        return value;
    }
}
