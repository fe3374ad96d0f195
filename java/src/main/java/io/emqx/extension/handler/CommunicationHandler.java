package io.emqx.extension.handler;

/**
 * What the driver starts and stops: the original SDK's handler interface.
 *
 * <p>Hook handlers extend {@link DefaultCommunicationHandler}, which implements
 * this interface and registers the {@code onXxx} / {@code decideXxx} methods a
 * subclass declares.
 */
public interface CommunicationHandler {

    /**
     * Called once, after the handler was built and configured, before any hook.
     * An exception refuses the driver's start, with the exception's text.
     *
     * @return for {@link DefaultCommunicationHandler}, the hooks it registers
     */
    Object init();

    /** Called once, when the driver is disabled or the broker stops. */
    void deinit();
}
