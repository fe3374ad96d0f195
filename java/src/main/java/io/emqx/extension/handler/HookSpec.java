package io.emqx.extension.handler;

import java.util.List;

/**
 * One hook a handler registers: which hook, whether through its typed
 * {@code decideXxx} method or the original {@code onXxx}, and the topic
 * filters a message hook is entered for (empty: every message).
 *
 * <pre>{@code
 * HookSpec s = new HookSpec(Hook.MESSAGE_PUBLISH, false, List.of("a/#"));
 * assert s.wants("a/b") && !s.wants("b");
 * }</pre>
 *
 * @param hook the hook
 * @param typed true when {@code decideXxx} handles it
 * @param topics the topic filters, empty for every message
 */
public record HookSpec(Hook hook, boolean typed, List<String> topics) {

    /**
     * Copies the filters.
     *
     * @param hook the hook
     * @param typed true when {@code decideXxx} handles it
     * @param topics the topic filters
     */
    public HookSpec {
        topics = List.copyOf(topics);
    }

    /**
     * Whether the hook is entered for a message on {@code topic}.
     *
     * @param topic the message's topic
     * @return true when there are no filters or one matches
     */
    public boolean wants(String topic) {
        if (topics.isEmpty()) {
            return true;
        }
        for (String f : topics) {
            if (Topics.matches(f, topic)) {
                return true;
            }
        }
        return false;
    }
}
