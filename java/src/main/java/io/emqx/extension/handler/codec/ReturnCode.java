package io.emqx.extension.handler.codec;

import java.util.Objects;

/** The CONNACK result {@code client.connack} reports, e.g. {@code "success"}, {@code "not_authorized"}. */
public class ReturnCode {

    /** The text. */
    public final String value;

    /**
     * A ReturnCode of {@code value}.
     *
     * @param value the text
     */
    public ReturnCode(String value) {
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ReturnCode other && Objects.equals(value, other.value);
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
