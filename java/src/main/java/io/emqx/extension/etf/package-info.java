/**
 * A small codec for the Erlang External Term Format: {@link io.emqx.extension.etf.Term}
 * models the terms, {@link io.emqx.extension.etf.Etf} reads and writes them. It is what
 * the Port protocol between the broker and the JVM speaks, and has no dependency.
 */
package io.emqx.extension.etf;
