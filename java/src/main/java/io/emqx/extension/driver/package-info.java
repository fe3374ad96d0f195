/**
 * The JVM side of the plugin's Port transport ({@link io.emqx.extension.driver.PortDriver}):
 * reads requests, runs the handler on per-client lanes of an elastic worker pool
 * ({@link io.emqx.extension.driver.Lanes}), and answers with the terms the broker folds
 * ({@link io.emqx.extension.driver.Encode}). Handler code does not use this package.
 */
package io.emqx.extension.driver;
