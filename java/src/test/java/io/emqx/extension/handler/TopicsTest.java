package io.emqx.extension.handler;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TopicsTest {

    @Test
    void hashMatchesTheParentAndEveryLevelBelow() {
        for (String topic : new String[] {"a", "a/b", "a/b/c", "a/"}) {
            assertTrue(Topics.matches("a/#", topic), topic);
        }
        assertFalse(Topics.matches("a/#", "ab"));
        assertFalse(Topics.matches("a/#", "b/a"));
        assertTrue(Topics.matches("#", "anything/at/all"));
        assertTrue(Topics.matches("#", "/leading/slash"));
    }

    @Test
    void plusMatchesExactlyOneLevelIncludingAnEmptyOne() {
        assertTrue(Topics.matches("a/+/c", "a/b/c"));
        assertTrue(Topics.matches("a/+/c", "a//c"));
        assertFalse(Topics.matches("a/+/c", "a/b/x/c"));
        assertFalse(Topics.matches("a/+", "a"));
        assertTrue(Topics.matches("a/+", "a/"));
        assertTrue(Topics.matches("+", "a"));
        assertFalse(Topics.matches("+", "a/b"));
        assertTrue(Topics.matches("+/+", "/"));
    }

    @Test
    void literalLevelsMustBeEqual() {
        assertTrue(Topics.matches("p/1", "p/1"));
        assertFalse(Topics.matches("p/1", "p/10"));
        assertFalse(Topics.matches("p/1", "p/1/"));
        assertFalse(Topics.matches("p/1/", "p/1"));
        assertFalse(Topics.matches("P/1", "p/1"));
    }

    @Test
    void dollarTopicsAreNotMatchedByLeadingWildcards() {
        assertFalse(Topics.matches("#", "$SYS/brokers"));
        assertFalse(Topics.matches("+/brokers", "$SYS/brokers"));
        assertTrue(Topics.matches("$SYS/#", "$SYS/brokers"));
        assertTrue(Topics.matches("$SYS/+", "$SYS/brokers"));
        assertTrue(Topics.matches("a/+", "a/$b"));
    }

    @Test
    void invalidFiltersAreRefusedWithTheReason() {
        assertNotNull(Topics.problem(""));
        assertNotNull(Topics.problem("a/#/c"));
        assertNotNull(Topics.problem("a/b+"));
        assertNotNull(Topics.problem("a#"));
        assertNotNull(Topics.problem("a/\0"));
        assertNull(Topics.problem("/"));
        assertNull(Topics.problem("+/+/#"));
    }
}
