/**
 * The hook arguments handed to a handler, as the original Java SDK named them:
 * plain classes with public fields.
 */
package io.emqx.extension.handler.codec;
