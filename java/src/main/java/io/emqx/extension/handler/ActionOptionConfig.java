package io.emqx.extension.handler;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The topic filters of the message hooks, as the original SDK declared them:
 * a comma-separated list of MQTT topic filters under each key of {@link Keys}.
 * A message hook is entered only for messages whose topic matches one of its
 * filters; a key that is absent or empty means every message.
 *
 * <pre>{@code
 * ActionOptionConfig o = new ActionOptionConfig()
 *     .set(ActionOptionConfig.Keys.MESSAGE_PUBLISH_TOPICS, "sensors/+/temp, alerts/#");
 * assert o.filters(Hook.MESSAGE_PUBLISH).equals(List.of("sensors/+/temp", "alerts/#"));
 * }</pre>
 */
public final class ActionOptionConfig {

    /** The keys, one per message hook. */
    public static final class Keys {
        /** Filters of {@code message.publish}. */
        public static final String MESSAGE_PUBLISH_TOPICS = "MESSAGE_PUBLISH_TOPICS";
        /** Filters of {@code message.delivered}. */
        public static final String MESSAGE_DELIVERED_TOPICS = "MESSAGE_DELIVERED_TOPICS";
        /** Filters of {@code message.acked}. */
        public static final String MESSAGE_ACKED_TOPICS = "MESSAGE_ACKED_TOPICS";
        /** Filters of {@code message.dropped}. */
        public static final String MESSAGE_DROPPED_TOPICS = "MESSAGE_DROPPED_TOPICS";

        private Keys() {}
    }

    private final Map<String, String> values = new LinkedHashMap<>();

    /** No filters: every message hook is entered for every message. */
    public ActionOptionConfig() {}

    /**
     * The original's default: {@code #} for each message hook (every topic
     * except {@code $SYS/...} and other {@code $} topics).
     *
     * @return a new config
     */
    public static ActionOptionConfig getDefault() {
        return new ActionOptionConfig()
                .set(Keys.MESSAGE_PUBLISH_TOPICS, "#")
                .set(Keys.MESSAGE_DELIVERED_TOPICS, "#")
                .set(Keys.MESSAGE_ACKED_TOPICS, "#")
                .set(Keys.MESSAGE_DROPPED_TOPICS, "#");
    }

    /**
     * Sets {@code key} to comma-separated filters.
     *
     * @param key one of {@link Keys}
     * @param value the filters, e.g. {@code "t/#,a/+/b"}
     * @return this
     */
    public ActionOptionConfig set(String key, String value) {
        if (key == null) {
            throw new NullPointerException("key must not be null");
        }
        values.put(key, value);
        return this;
    }

    /**
     * The raw value of {@code key}, or null.
     *
     * @param key the key
     * @return the value or null
     */
    public String get(String key) {
        return values.get(key);
    }

    /**
     * The filters declared for message hook {@code hook}, trimmed; empty
     * when it takes every message (and for hooks that carry no message).
     *
     * @param hook the hook
     * @return the filters
     */
    public List<String> filters(Hook hook) {
        String raw = values.get(keyOf(hook));
        List<String> out = new ArrayList<>();
        if (raw != null) {
            for (String f : raw.split(",")) {
                if (!f.trim().isEmpty()) {
                    out.add(f.trim());
                }
            }
        }
        return out;
    }

    /**
     * Keys set here that name no message hook: a typo would otherwise make
     * filters silently do nothing.
     *
     * @return the unknown keys
     */
    List<String> unknownKeys() {
        List<String> unknown = new ArrayList<>();
        for (String k : values.keySet()) {
            boolean known = false;
            for (Hook h : Hook.values()) {
                known |= k.equals(keyOf(h));
            }
            if (!known) {
                unknown.add(k);
            }
        }
        return unknown;
    }

    private static String keyOf(Hook hook) {
        switch (hook) {
            case MESSAGE_PUBLISH:
                return Keys.MESSAGE_PUBLISH_TOPICS;
            case MESSAGE_DELIVERED:
                return Keys.MESSAGE_DELIVERED_TOPICS;
            case MESSAGE_ACKED:
                return Keys.MESSAGE_ACKED_TOPICS;
            case MESSAGE_DROPPED:
                return Keys.MESSAGE_DROPPED_TOPICS;
            default:
                return null;
        }
    }
}
