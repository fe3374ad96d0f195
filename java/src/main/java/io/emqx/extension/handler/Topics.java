package io.emqx.extension.handler;

/**
 * MQTT topic filters, matched as the broker matches subscriptions: {@code +}
 * is exactly one level (possibly empty), {@code #} is the parent level and
 * everything below it, and a topic whose first level starts with {@code $}
 * is not matched by a filter starting with a wildcard.
 *
 * <pre>{@code
 * assert Topics.matches("sensors/+/temp", "sensors/kitchen/temp");
 * assert Topics.matches("a/#", "a");
 * assert !Topics.matches("#", "$SYS/brokers");
 * }</pre>
 */
public final class Topics {

    private Topics() {}

    /**
     * Whether topic name {@code topic} matches filter {@code filter}
     * (assumed valid, see {@link #problem}).
     *
     * @param filter the topic filter
     * @param topic the topic name
     * @return true when it matches
     */
    public static boolean matches(String filter, String topic) {
        if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) {
            return false;
        }
        String[] filterLevels = filter.split("/", -1);
        String[] topicLevels = topic.split("/", -1);
        for (int i = 0; i < filterLevels.length; i++) {
            String level = filterLevels[i];
            if (level.equals("#")) {
                return true;
            }
            if (i >= topicLevels.length || !level.equals("+") && !level.equals(topicLevels[i])) {
                return false;
            }
        }
        return filterLevels.length == topicLevels.length;
    }

    /**
     * Why {@code filter} is not a valid topic filter, or {@code null} if it is.
     *
     * <pre>{@code
     * assert Topics.problem("a/+/#") == null;
     * assert Topics.problem("a/#/b") != null;
     * }</pre>
     *
     * @param filter the filter
     * @return the problem, or null
     */
    public static String problem(String filter) {
        if (filter.isEmpty()) {
            return "empty topic filter";
        }
        if (filter.indexOf('\0') >= 0) {
            return "topic filter \"" + filter + "\" contains NUL";
        }
        String[] levels = filter.split("/", -1);
        for (int i = 0; i < levels.length; i++) {
            String level = levels[i];
            boolean wildcard = level.contains("+") || level.contains("#");
            if (wildcard && level.length() > 1) {
                return "topic filter \"" + filter + "\": a wildcard must fill a whole level";
            }
            if (level.equals("#") && i != levels.length - 1) {
                return "topic filter \"" + filter + "\": '#' must be the last level";
            }
        }
        return null;
    }
}
