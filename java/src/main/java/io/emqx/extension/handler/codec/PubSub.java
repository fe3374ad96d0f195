package io.emqx.extension.handler.codec;

import java.util.Objects;

/** Whether an ACL check is for a publish or a subscribe: {@code value} is {@code "publish"} or {@code "subscribe"}. */
public class PubSub {

    /** The text. */
    public final String value;

    /**
     * A PubSub of {@code value}.
     *
     * @param value the text
     */
    public PubSub(String value) {
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PubSub other && Objects.equals(value, other.value);
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
