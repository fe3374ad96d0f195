package io.emqx.extension.handler;

/**
 * The answer to {@code client.check_acl}, from
 * {@link DefaultCommunicationHandler#decideClientCheckAcl}.
 */
public enum AclDecision {
    /** Allow the publish or subscribe; no later handler is asked. */
    ALLOW,
    /** Deny it; no later handler is asked. */
    DENY,
    /** No opinion: the next handler, or the broker's default, decides. */
    IGNORE
}
