package io.emqx.extension.handler;

/**
 * The answer to {@code client.authenticate}, from
 * {@link DefaultCommunicationHandler#decideClientAuthenticate}.
 */
public enum AuthDecision {
    /** Let the client in; no later handler is asked. */
    ALLOW,
    /** Let the client in as a superuser (the broker skips its ACL checks). */
    ALLOW_SUPERUSER,
    /** Refuse the login ({@code not_authorized}); no later handler is asked. */
    DENY,
    /** No opinion: the next handler, or the broker's default, decides. */
    IGNORE
}
