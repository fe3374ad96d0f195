package io.emqx.extension.handler.codec;

import java.util.Objects;

/**
 * One MQTT 5 property: {@code key} is the broker's property name (such as
 * {@code Session-Expiry-Interval}), its value as text; each {@code User-Property}
 * pair is one Property with the pair's own key and value.
 */
public class Property {

    /** The name. */
    public final String key;
    /** The value as text. */
    public final String value;

    /**
     * A property.
     *
     * @param key the name
     * @param value the value
     */
    public Property(String key, String value) {
        this.key = key;
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Property p && Objects.equals(key, p.key) && Objects.equals(value, p.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, value);
    }

    @Override
    public String toString() {
        return key + "=" + value;
    }
}
