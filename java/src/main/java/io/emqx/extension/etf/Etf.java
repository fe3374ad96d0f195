package io.emqx.extension.etf;

import io.emqx.extension.etf.Term.Atom;
import io.emqx.extension.etf.Term.BigInt;
import io.emqx.extension.etf.Term.Binary;
import io.emqx.extension.etf.Term.BitString;
import io.emqx.extension.etf.Term.ErlList;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.FloatTerm;
import io.emqx.extension.etf.Term.Int;
import io.emqx.extension.etf.Term.Pid;
import io.emqx.extension.etf.Term.PortId;
import io.emqx.extension.etf.Term.Raw;
import io.emqx.extension.etf.Term.Ref;
import io.emqx.extension.etf.Term.Tuple;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The External Term Format (what {@code term_to_binary/1} writes and
 * {@code binary_to_term/1} reads), for the terms of {@link Term}.
 *
 * <p>Integers are written the way the VM writes them (so an integer read
 * from the VM is written back byte for byte); atoms as UTF-8 atoms; funs
 * are kept as {@link Raw} bytes and written back unchanged.
 *
 * <pre>{@code
 * byte[] bytes = Etf.encode(Term.tuple(Term.atom("reply"), Term.integer(7)));
 * Term back = Etf.decode(bytes);
 * }</pre>
 */
public final class Etf {

    static final int VERSION = 131;
    static final int COMPRESSED = 80;
    static final int NEW_FLOAT = 70;
    static final int BIT_BINARY = 77;
    static final int NEW_PID = 88;
    static final int NEW_PORT = 89;
    static final int NEWER_REFERENCE = 90;
    static final int SMALL_INTEGER = 97;
    static final int INTEGER = 98;
    static final int FLOAT = 99;
    static final int ATOM = 100;
    static final int REFERENCE = 101;
    static final int PORT = 102;
    static final int PID = 103;
    static final int SMALL_TUPLE = 104;
    static final int LARGE_TUPLE = 105;
    static final int NIL = 106;
    static final int STRING = 107;
    static final int LIST = 108;
    static final int BINARY = 109;
    static final int SMALL_BIG = 110;
    static final int LARGE_BIG = 111;
    static final int NEW_FUN = 112;
    static final int EXPORT = 113;
    static final int NEW_REFERENCE = 114;
    static final int SMALL_ATOM = 115;
    static final int MAP = 116;
    static final int ATOM_UTF8 = 118;
    static final int SMALL_ATOM_UTF8 = 119;
    static final int V4_PORT = 120;

    private static final BigInteger LONG_MIN = BigInteger.valueOf(Long.MIN_VALUE);
    private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    private Etf() {}

    /**
     * Reads one term, version byte first; the whole array must be that term.
     *
     * @param data the encoding
     * @return the term
     * @throws EtfException if the bytes are not one well-formed term
     */
    public static Term decode(byte[] data) {
        Reader r = new Reader(data);
        r.version();
        Term t = r.term();
        r.end();
        return t;
    }

    /**
     * Writes {@code term} with the version byte.
     *
     * @param term the term
     * @return the encoding
     */
    public static byte[] encode(Term term) {
        Writer w = new Writer(64);
        w.version();
        w.term(term);
        return w.toByteArray();
    }

    /** Reads terms from a byte array, tracking its position. */
    public static final class Reader {
        private byte[] data;
        private int pos;

        /**
         * A reader at the start of {@code data}.
         *
         * @param data the bytes
         */
        public Reader(byte[] data) {
            this.data = data;
        }

        /**
         * The position of the next byte to read.
         *
         * @return the offset
         */
        public int position() {
            return pos;
        }

        /** Reads the version byte; a compressed term is inflated in place. */
        public void version() {
            if (u8() != VERSION) {
                throw new EtfException("not the External Term Format (no version byte 131)");
            }
            if (pos < data.length && (data[pos] & 0xff) == COMPRESSED) {
                pos++;
                int size = i32();
                if (size < 0) {
                    throw new EtfException("bad compressed size");
                }
                byte[] inflated = new byte[size];
                Inflater inflater = new Inflater();
                try {
                    inflater.setInput(data, pos, data.length - pos);
                    if (inflater.inflate(inflated) != size || !inflater.finished()) {
                        throw new EtfException("compressed term of the wrong size");
                    }
                } catch (DataFormatException e) {
                    throw new EtfException("bad compressed term: " + e.getMessage());
                } finally {
                    inflater.end();
                }
                data = inflated;
                pos = 0;
            }
        }

        /** Fails unless every byte has been read. */
        public void end() {
            if (pos != data.length) {
                throw new EtfException((data.length - pos) + " bytes after the term");
            }
        }

        /**
         * If the next term is a tuple, reads its header and returns its arity
         * (its elements follow); otherwise reads nothing and returns -1.
         *
         * @return the arity, or -1
         */
        public int tupleArity() {
            if (pos < data.length && (data[pos] & 0xff) == SMALL_TUPLE) {
                pos++;
                return u8();
            }
            if (pos < data.length && (data[pos] & 0xff) == LARGE_TUPLE) {
                pos++;
                return length(i32());
            }
            return -1;
        }

        /**
         * Reads a term and returns its encoding untouched, as a {@link Raw}.
         *
         * @return the term's bytes
         */
        public Raw raw() {
            int start = pos;
            term();
            return new Raw(Arrays.copyOfRange(data, start, pos));
        }

        /**
         * Reads one term.
         *
         * @return the term
         */
        public Term term() {
            int tag = u8();
            switch (tag) {
                case SMALL_INTEGER:
                    return new Int(u8());
                case INTEGER:
                    return new Int(i32());
                case SMALL_BIG:
                    return big(u8());
                case LARGE_BIG:
                    return big(length(i32()));
                case NEW_FLOAT:
                    return new FloatTerm(Double.longBitsToDouble(i64()));
                case FLOAT:
                    return oldFloat();
                case ATOM:
                case ATOM_UTF8:
                    return atom(u16(), tag == ATOM_UTF8);
                case SMALL_ATOM:
                case SMALL_ATOM_UTF8:
                    return atom(u8(), tag == SMALL_ATOM_UTF8);
                case SMALL_TUPLE:
                    return tuple(u8());
                case LARGE_TUPLE:
                    return tuple(length(i32()));
                case NIL:
                    return Term.NIL;
                case STRING:
                    return string(u16());
                case LIST:
                    return list(length(i32()));
                case BINARY:
                    return new Binary(bytes(length(i32())));
                case BIT_BINARY:
                    return bitString(length(i32()));
                case MAP:
                    return map(length(i32()));
                case NEW_PID:
                case PID:
                    return new Pid(atomTerm(), i32(), i32(), tag == NEW_PID ? i32() : u8());
                case NEW_PORT:
                case PORT:
                    return new PortId(atomTerm(), i32() & 0xffffffffL, tag == NEW_PORT ? i32() : u8());
                case V4_PORT:
                    return new PortId(atomTerm(), i64(), i32());
                case NEWER_REFERENCE:
                case NEW_REFERENCE:
                    return reference(u16(), tag == NEWER_REFERENCE);
                case REFERENCE:
                    return new Ref(atomTerm(), u8(), new int[] {i32()});
                case NEW_FUN:
                    return rawSized(tag);
                case EXPORT:
                    return rawExport();
                default:
                    throw new EtfException("unsupported term tag " + tag + " at byte " + (pos - 1));
            }
        }

        private Term big(int n) {
            int sign = u8();
            need(n);
            byte[] magnitude = new byte[n];
            for (int i = 0; i < n; i++) {
                magnitude[n - 1 - i] = data[pos + i];
            }
            pos += n;
            BigInteger v = new BigInteger(1, magnitude);
            if (sign != 0) {
                v = v.negate();
            }
            if (v.compareTo(LONG_MIN) >= 0 && v.compareTo(LONG_MAX) <= 0) {
                return new Int(v.longValue());
            }
            return new BigInt(v);
        }

        private Term oldFloat() {
            String text = new String(bytes(31), StandardCharsets.ISO_8859_1).trim();
            int nul = text.indexOf('\0');
            try {
                return new FloatTerm(Double.parseDouble(nul < 0 ? text : text.substring(0, nul)));
            } catch (NumberFormatException e) {
                throw new EtfException("bad float " + text);
            }
        }

        private Atom atom(int len, boolean utf8) {
            need(len);
            String name = new String(data, pos, len, utf8 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            pos += len;
            return Atoms.intern(name);
        }

        private Atom atomTerm() {
            Term t = term();
            if (t instanceof Atom a) {
                return a;
            }
            throw new EtfException("expected a node name atom");
        }

        private Tuple tuple(int arity) {
            Term[] elements = new Term[arity];
            for (int i = 0; i < arity; i++) {
                elements[i] = term();
            }
            return new Tuple(Collections.unmodifiableList(Arrays.asList(elements)));
        }

        private ErlList string(int len) {
            need(len);
            Term[] chars = new Term[len];
            for (int i = 0; i < len; i++) {
                chars[i] = new Int(data[pos + i] & 0xff);
            }
            pos += len;
            return new ErlList(Collections.unmodifiableList(Arrays.asList(chars)), null);
        }

        private ErlList list(int len) {
            Term[] elements = new Term[len];
            for (int i = 0; i < len; i++) {
                elements[i] = term();
            }
            Term tail = term();
            boolean proper = tail instanceof ErlList l && l.elements().isEmpty() && l.isProper();
            return new ErlList(Collections.unmodifiableList(Arrays.asList(elements)), proper ? null : tail);
        }

        private BitString bitString(int len) {
            int bits = u8();
            if (bits < 1 || bits > 8 || len == 0) {
                throw new EtfException("bad bitstring");
            }
            return new BitString(bytes(len), bits);
        }

        private ErlMap map(int arity) {
            Map<Term, Term> entries = new LinkedHashMap<>(arity * 2);
            for (int i = 0; i < arity; i++) {
                Term k = term();
                entries.put(k, term());
            }
            return new ErlMap(Collections.unmodifiableMap(entries));
        }

        private Ref reference(int words, boolean newer) {
            Atom node = atomTerm();
            int creation = newer ? i32() : u8();
            if (words > 5) {
                throw new EtfException("reference of " + words + " words");
            }
            int[] ids = new int[words];
            for (int i = 0; i < words; i++) {
                ids[i] = i32();
            }
            return new Ref(node, creation, ids);
        }

        private Raw rawSized(int tag) {
            int start = pos - 1;
            int size = i32();
            if (size < 4) {
                throw new EtfException("bad fun size");
            }
            need(size - 4);
            pos += size - 4;
            return new Raw(Arrays.copyOfRange(data, start, pos));
        }

        private Raw rawExport() {
            int start = pos - 1;
            term();
            term();
            term();
            return new Raw(Arrays.copyOfRange(data, start, pos));
        }

        private int length(int n) {
            if (n < 0 || n > data.length - pos) {
                throw new EtfException("length " + n + " beyond the end of the term");
            }
            return n;
        }

        private void need(int n) {
            if (n < 0 || n > data.length - pos) {
                throw new EtfException("term ends early at byte " + pos);
            }
        }

        private byte[] bytes(int n) {
            need(n);
            byte[] out = Arrays.copyOfRange(data, pos, pos + n);
            pos += n;
            return out;
        }

        private int u8() {
            need(1);
            return data[pos++] & 0xff;
        }

        private int u16() {
            need(2);
            int v = ((data[pos] & 0xff) << 8) | (data[pos + 1] & 0xff);
            pos += 2;
            return v;
        }

        private int i32() {
            need(4);
            int v = ((data[pos] & 0xff) << 24) | ((data[pos + 1] & 0xff) << 16)
                    | ((data[pos + 2] & 0xff) << 8) | (data[pos + 3] & 0xff);
            pos += 4;
            return v;
        }

        private long i64() {
            long hi = i32() & 0xffffffffL;
            long lo = i32() & 0xffffffffL;
            return (hi << 32) | lo;
        }
    }

    /** Writes terms into a growing byte array. */
    public static final class Writer {
        private byte[] buf;
        private int len;

        /**
         * An empty writer.
         *
         * @param capacity the initial capacity
         */
        public Writer(int capacity) {
            buf = new byte[Math.max(capacity, 16)];
        }

        /**
         * Leaves {@code n} bytes for a header written later with {@link #patchInt}.
         *
         * @param n the bytes to skip
         */
        public void skip(int n) {
            ensure(n);
            len += n;
        }

        /**
         * Writes {@code value} big-endian at {@code offset}, over bytes already written.
         *
         * @param offset where
         * @param value what
         */
        public void patchInt(int offset, int value) {
            buf[offset] = (byte) (value >>> 24);
            buf[offset + 1] = (byte) (value >>> 16);
            buf[offset + 2] = (byte) (value >>> 8);
            buf[offset + 3] = (byte) value;
        }

        /**
         * The bytes written so far.
         *
         * @return the count
         */
        public int size() {
            return len;
        }

        /**
         * The internal buffer; only the first {@link #size()} bytes are written.
         *
         * @return the buffer
         */
        public byte[] buffer() {
            return buf;
        }

        /**
         * A copy of the bytes written.
         *
         * @return the bytes
         */
        public byte[] toByteArray() {
            return Arrays.copyOf(buf, len);
        }

        /** Writes the version byte. */
        public void version() {
            u8(VERSION);
        }

        /**
         * Writes one term (no version byte).
         *
         * @param t the term
         */
        public void term(Term t) {
            if (t instanceof Atom a) {
                atom(a.name());
            } else if (t instanceof Binary b) {
                u8(BINARY);
                i32(b.bytes().length);
                bytes(b.bytes());
            } else if (t instanceof Int i) {
                integer(i.value());
            } else if (t instanceof Tuple tu) {
                tupleHeader(tu.arity());
                for (Term e : tu.elements()) {
                    term(e);
                }
            } else if (t instanceof ErlMap m) {
                u8(MAP);
                i32(m.entries().size());
                for (Map.Entry<Term, Term> e : m.entries().entrySet()) {
                    term(e.getKey());
                    term(e.getValue());
                }
            } else if (t instanceof ErlList l) {
                list(l);
            } else if (t instanceof BigInt b) {
                big(b.value());
            } else if (t instanceof FloatTerm f) {
                u8(NEW_FLOAT);
                i64(Double.doubleToRawLongBits(f.value()));
            } else if (t instanceof Raw r) {
                bytes(r.encoded());
            } else if (t instanceof Ref r) {
                u8(NEWER_REFERENCE);
                u16(r.ids().length);
                term(r.node());
                i32(r.creation());
                for (int id : r.ids()) {
                    i32(id);
                }
            } else if (t instanceof Pid p) {
                u8(NEW_PID);
                term(p.node());
                i32(p.id());
                i32(p.serial());
                i32(p.creation());
            } else if (t instanceof PortId p) {
                portId(p);
            } else if (t instanceof BitString b) {
                u8(BIT_BINARY);
                i32(b.bytes().length);
                u8(b.bits());
                bytes(b.bytes());
            } else {
                throw new EtfException("cannot encode " + t);
            }
        }

        /**
         * Writes a tuple's header; its {@code arity} elements follow.
         *
         * @param arity the element count
         */
        public void tupleHeader(int arity) {
            if (arity < 256) {
                u8(SMALL_TUPLE);
                u8(arity);
            } else {
                u8(LARGE_TUPLE);
                i32(arity);
            }
        }

        /**
         * Writes an atom.
         *
         * @param name the atom's text
         */
        public void atom(String name) {
            byte[] b = Atoms.utf8(name);
            if (b.length < 256) {
                u8(SMALL_ATOM_UTF8);
                u8(b.length);
            } else {
                u8(ATOM_UTF8);
                u16(b.length);
            }
            bytes(b);
        }

        /**
         * Writes an integer the way the VM does.
         *
         * @param v the value
         */
        public void integer(long v) {
            if (v >= 0 && v <= 255) {
                u8(SMALL_INTEGER);
                u8((int) v);
            } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
                u8(INTEGER);
                i32((int) v);
            } else {
                big(BigInteger.valueOf(v));
            }
        }

        private void list(ErlList l) {
            if (l.elements().isEmpty() && l.isProper()) {
                u8(NIL);
                return;
            }
            u8(LIST);
            i32(l.elements().size());
            for (Term e : l.elements()) {
                term(e);
            }
            if (l.isProper()) {
                u8(NIL);
            } else {
                term(l.tail());
            }
        }

        private void big(BigInteger v) {
            byte[] be = v.abs().toByteArray();
            int start = be[0] == 0 ? 1 : 0;
            int n = be.length - start;
            if (n < 256) {
                u8(SMALL_BIG);
                u8(n);
            } else {
                u8(LARGE_BIG);
                i32(n);
            }
            u8(v.signum() < 0 ? 1 : 0);
            ensure(n);
            for (int i = 0; i < n; i++) {
                buf[len++] = be[be.length - 1 - i];
            }
        }

        private void portId(PortId p) {
            if (p.id() >= 0 && p.id() <= 0xffffffffL) {
                u8(NEW_PORT);
                term(p.node());
                i32((int) p.id());
            } else {
                u8(V4_PORT);
                term(p.node());
                i64(p.id());
            }
            i32(p.creation());
        }

        private void ensure(int n) {
            if (len + n > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
            }
        }

        /**
         * Writes raw bytes.
         *
         * @param b the bytes
         */
        public void bytes(byte[] b) {
            ensure(b.length);
            System.arraycopy(b, 0, buf, len, b.length);
            len += b.length;
        }

        private void u8(int v) {
            ensure(1);
            buf[len++] = (byte) v;
        }

        private void u16(int v) {
            ensure(2);
            buf[len++] = (byte) (v >>> 8);
            buf[len++] = (byte) v;
        }

        private void i32(int v) {
            ensure(4);
            patchInt(len, v);
            len += 4;
        }

        private void i64(long v) {
            i32((int) (v >>> 32));
            i32((int) v);
        }
    }

    /** Atoms seen often: one instance and one UTF-8 encoding each. */
    static final class Atoms {
        private static final java.util.concurrent.ConcurrentHashMap<String, Atom> SEEN =
                new java.util.concurrent.ConcurrentHashMap<>();
        private static final java.util.concurrent.ConcurrentHashMap<String, byte[]> UTF8 =
                new java.util.concurrent.ConcurrentHashMap<>();
        /** Atoms from the VM are a bounded set in practice; this caps the cache all the same. */
        private static final int LIMIT = 4096;

        private Atoms() {}

        static Atom intern(String name) {
            Atom a = SEEN.get(name);
            if (a != null) {
                return a;
            }
            a = new Atom(name);
            if (SEEN.size() < LIMIT) {
                SEEN.putIfAbsent(name, a);
            }
            return a;
        }

        static byte[] utf8(String name) {
            byte[] b = UTF8.get(name);
            if (b != null) {
                return b;
            }
            b = name.getBytes(StandardCharsets.UTF_8);
            if (UTF8.size() < LIMIT) {
                UTF8.putIfAbsent(name, b);
            }
            return b;
        }
    }
}
