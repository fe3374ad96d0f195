package io.emqx.extension.driver;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Reads {@code {packet, 4}} frames, many per read when the VM sends them
 * faster than they are handled, and tells whether another whole frame is
 * already buffered (then a hand-off to another thread pays off).
 *
 * <p>With nothing to read, it polls the input for a while before it blocks:
 * a thread blocked in a read takes tens of microseconds to wake, as long as
 * a whole call takes when calls come one after another.
 */
public final class FrameReader {

    private final InputStream in;
    private long spinNs;
    private byte[] buf = new byte[1 << 16];
    private int start;
    private int end;

    /**
     * Frames from {@code in}.
     *
     * @param in the protocol's input
     * @param spinNs how long to poll for input before blocking (0: never)
     */
    public FrameReader(InputStream in, long spinNs) {
        this.in = in;
        this.spinNs = spinNs;
    }

    /**
     * Sets how long to poll for input before blocking.
     *
     * @param spinNs nanoseconds (0: never)
     */
    public void spin(long spinNs) {
        this.spinNs = spinNs;
    }

    /**
     * The next frame's payload, or null at the end of input.
     *
     * @return the frame or null
     * @throws IOException on a read error, or input ending inside a frame
     */
    public byte[] next() throws IOException {
        if (!fill(4)) {
            return null;
        }
        int len = length();
        if (len < 0) {
            throw new IOException("frame length " + (len & 0xffffffffL) + " too large");
        }
        if (!fill(4 + len)) {
            throw new IOException("input ended inside a frame");
        }
        byte[] frame = Arrays.copyOfRange(buf, start + 4, start + 4 + len);
        start += 4 + len;
        return frame;
    }

    /**
     * Whether a whole frame is buffered, so {@link #next} would not block.
     *
     * @return true if so
     */
    public boolean hasBufferedFrame() {
        return end - start >= 4 && end - start - 4 >= length() && length() >= 0;
    }

    private int length() {
        return ((buf[start] & 0xff) << 24) | ((buf[start + 1] & 0xff) << 16)
                | ((buf[start + 2] & 0xff) << 8) | (buf[start + 3] & 0xff);
    }

    private void awaitInput() throws IOException {
        if (spinNs <= 0) {
            return;
        }
        long until = System.nanoTime() + spinNs;
        while (in.available() == 0 && System.nanoTime() - until < 0) {
            Thread.onSpinWait();
        }
    }

    /** Reads until {@code n} bytes are buffered; false at the end of input before any of them. */
    private boolean fill(int n) throws IOException {
        if (end - start >= n) {
            return true;
        }
        if (start == end) {
            start = 0;
            end = 0;
        }
        if (buf.length - start < n) {
            byte[] bigger = buf.length >= n ? buf : new byte[Math.max(n, buf.length * 2)];
            System.arraycopy(buf, start, bigger, 0, end - start);
            buf = bigger;
            end -= start;
            start = 0;
        }
        while (end - start < n) {
            awaitInput();
            int read = in.read(buf, end, buf.length - end);
            if (read < 0) {
                if (end - start == 0) {
                    return false;
                }
                throw new IOException("input ended inside a frame");
            }
            end += read;
        }
        return true;
    }
}
