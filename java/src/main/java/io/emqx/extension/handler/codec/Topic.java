package io.emqx.extension.handler.codec;

import java.util.Objects;

/** A topic, or a topic filter where the hook carries one. */
public class Topic {

    /** The text. */
    public final String value;

    /**
     * A Topic of {@code value}.
     *
     * @param value the text
     */
    public Topic(String value) {
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Topic other && Objects.equals(value, other.value);
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
