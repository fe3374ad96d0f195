package io.emqx.extension.handler;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The driver's settings: every key of {@code exhook.drivers.NAME.*}, as text.
 *
 * <pre>{@code
 * Config c = new Config("java", Map.of("pool_size", "8"));
 * assert c.get("pool_size").equals("8");
 * assert c.get("missing", "x").equals("x");
 * }</pre>
 */
public final class Config {

    private final String driverName;
    private final Map<String, String> settings;

    /**
     * Settings of driver {@code driverName}.
     *
     * @param driverName the driver's name in the config
     * @param settings key to value
     */
    public Config(String driverName, Map<String, String> settings) {
        this.driverName = driverName;
        this.settings = Collections.unmodifiableMap(new LinkedHashMap<>(settings));
    }

    /**
     * The driver's name ({@code exhook.drivers.NAME}).
     *
     * @return the name
     */
    public String driverName() {
        return driverName;
    }

    /**
     * The setting {@code key}, or {@code null} if absent.
     *
     * @param key the key
     * @return the value or null
     */
    public String get(String key) {
        return settings.get(key);
    }

    /**
     * The setting {@code key}, or {@code fallback} if absent.
     *
     * @param key the key
     * @param fallback the default
     * @return the value or the default
     */
    public String get(String key, String fallback) {
        return settings.getOrDefault(key, fallback);
    }

    /**
     * Every setting.
     *
     * @return an unmodifiable map, in config order
     */
    public Map<String, String> asMap() {
        return settings;
    }
}
