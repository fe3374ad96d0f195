package io.emqx.extension.driver;

import io.emqx.extension.etf.Etf;
import io.emqx.extension.etf.Term;
import java.io.IOException;
import java.io.OutputStream;

/**
 * Writes {@code {packet, 4}} frames of one term each to the VM; frames from
 * concurrent threads never interleave.
 */
public final class FrameOutput {

    private static final Term REPLY = Term.atom("reply");

    private final OutputStream out;
    private volatile boolean closed;

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
        synchronized (this) {
            if (closed) {
                return;
            }
            try {
                out.write(w.buffer(), 0, w.size());
                out.flush();
            } catch (IOException e) {
                // The VM closed the port; reading stdin ends too.
                closed = true;
            }
        }
    }
}
