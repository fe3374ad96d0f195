/**
 * The Java SDK for EMQX hook handlers: extend
 * {@link io.emqx.extension.handler.DefaultCommunicationHandler} and declare the
 * {@code onXxx} (the original SDK's signatures) or {@code decideXxx} (typed decisions)
 * methods of the hooks to handle.
 */
package io.emqx.extension.handler;
