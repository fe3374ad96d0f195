package io.emqx.extension.driver;

import io.emqx.extension.etf.Etf;
import io.emqx.extension.etf.Term;
import java.io.IOException;
import java.io.OutputStream;

/**
 * Writes {@code {packet, 4}} frames of one term each to the VM; frames from
 * concurrent threads never interleave.
 *
 * <p>Frames that arrive while another thread is writing are gathered and
 * written together by that thread, in one system call: under load, many
 * replies a write; alone, a frame is written at once.
 */
public final class FrameOutput {

    private static final Term REPLY = Term.atom("reply");

    private final OutputStream out;
    private volatile boolean closed;
    /** Frames waiting for the thread that is writing. */
    private byte[] gathered = new byte[1 << 12];
    private int gatheredLen;
    private boolean writing;

    /**
     * Frames to {@code out}.
     *
     * @param out the protocol's output
     */
    public FrameOutput(OutputStream out) {
        this.out = out;
    }

    /**
     * Sends {@code term} as one frame.
     *
     * @param term the term
     */
    public void send(Term term) {
        Etf.Writer w = new Etf.Writer(256);
        w.skip(4);
        w.version();
        w.term(term);
        write(w);
    }

    /**
     * Sends {@code {reply, Id, Result}} with {@code id} written byte for byte
     * as the VM sent it.
     *
     * @param id the call's id, as read
     * @param result the result
     */
    public void reply(Term.Raw id, Term result) {
        Etf.Writer w = new Etf.Writer(256);
        w.skip(4);
        w.version();
        w.tupleHeader(3);
        w.term(REPLY);
        w.bytes(id.encoded());
        w.term(result);
        write(w);
    }

    private void write(Etf.Writer w) {
        w.patchInt(0, w.size() - 4);
        byte[] chunk;
        int len;
        synchronized (this) {
            if (writing) {
                append(w.buffer(), w.size());
                return;
            }
            writing = true;
            chunk = w.buffer();
            len = w.size();
        }
        while (true) {
            if (!closed) {
                try {
                    out.write(chunk, 0, len);
                    out.flush();
                } catch (IOException e) {
                    // The VM closed the port; reading stdin ends too.
                    closed = true;
                }
            }
            synchronized (this) {
                if (gatheredLen == 0) {
                    writing = false;
                    return;
                }
                chunk = gathered;
                len = gatheredLen;
                gathered = new byte[Math.max(1 << 12, len)];
                gatheredLen = 0;
            }
        }
    }

    private void append(byte[] frame, int len) {
        if (gatheredLen + len > gathered.length) {
            gathered = java.util.Arrays.copyOf(gathered, Math.max(gathered.length * 2, gatheredLen + len));
        }
        System.arraycopy(frame, 0, gathered, gatheredLen, len);
        gatheredLen += len;
    }
}
