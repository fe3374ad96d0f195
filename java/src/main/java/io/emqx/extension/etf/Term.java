package io.emqx.extension.etf;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An Erlang term, as the External Term Format carries it.
 *
 * <p>Every kind is a small immutable value with structural equality, so two
 * terms are {@code equals} exactly when the Erlang terms are {@code =:=}
 * (up to the representation of references, pids and ports, which compare by
 * their fields). {@link Etf} reads and writes them.
 *
 * <pre>{@code
 * Term t = Term.tuple(Term.atom("ok"), Term.binary("hello"));
 * byte[] bytes = Etf.encode(t);
 * assert Etf.decode(bytes).equals(t);
 * }</pre>
 */
public sealed interface Term {

    /** The atom {@code ok}. */
    Atom OK = new Atom("ok");
    /** The atom {@code true}. */
    Atom TRUE = new Atom("true");
    /** The atom {@code false}. */
    Atom FALSE = new Atom("false");
    /** The atom {@code undefined}. */
    Atom UNDEFINED = new Atom("undefined");
    /** The empty list {@code []}. */
    ErlList NIL = new ErlList(List.of(), null);

    /**
     * An atom.
     *
     * @param name the atom's text
     */
    record Atom(String name) implements Term {
        @Override
        public String toString() {
            return name;
        }
    }

    /**
     * An integer that fits in a {@code long}.
     *
     * @param value the integer
     */
    record Int(long value) implements Term {
        @Override
        public String toString() {
            return Long.toString(value);
        }
    }

    /**
     * An integer outside the range of {@code long}; integers inside it are
     * always {@link Int}, so equal integers have one representation.
     *
     * @param value the integer
     */
    record BigInt(BigInteger value) implements Term {
        @Override
        public String toString() {
            return value.toString();
        }
    }

    /**
     * A float.
     *
     * @param value the float
     */
    record FloatTerm(double value) implements Term {
        @Override
        public String toString() {
            return Double.toString(value);
        }
    }

    /**
     * A binary; the array is owned by the term and must not be changed.
     *
     * @param bytes the binary's bytes
     */
    record Binary(byte[] bytes) implements Term {
        @Override
        public boolean equals(Object o) {
            return o instanceof Binary b && Arrays.equals(bytes, b.bytes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bytes);
        }

        @Override
        public String toString() {
            return "<<" + bytes.length + " bytes>>";
        }
    }

    /**
     * A bitstring whose last byte holds only {@code bits} significant bits (1..8).
     *
     * @param bytes the bytes
     * @param bits the significant bits of the last byte
     */
    record BitString(byte[] bytes, int bits) implements Term {
        @Override
        public boolean equals(Object o) {
            return o instanceof BitString b && bits == b.bits && Arrays.equals(bytes, b.bytes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bytes) * 31 + bits;
        }
    }

    /**
     * A tuple.
     *
     * @param elements the elements, unmodifiable
     */
    record Tuple(List<Term> elements) implements Term {
        /**
         * The element at {@code index} (0-based).
         *
         * @param index the position
         * @return the element
         */
        public Term get(int index) {
            return elements.get(index);
        }

        /**
         * The number of elements.
         *
         * @return the arity
         */
        public int arity() {
            return elements.size();
        }
    }

    /**
     * A list; {@code tail} is {@code null} for a proper list, else the
     * improper tail.
     *
     * @param elements the elements, unmodifiable
     * @param tail the improper tail, or {@code null}
     */
    record ErlList(List<Term> elements, Term tail) implements Term {
        /**
         * Whether this is a proper list.
         *
         * @return true when the tail is {@code []}
         */
        public boolean isProper() {
            return tail == null;
        }
    }

    /**
     * A map; iteration follows the order the entries were read or put in.
     *
     * @param entries the entries, unmodifiable
     */
    record ErlMap(Map<Term, Term> entries) implements Term {
        /**
         * The value under atom key {@code key}, or {@code null}.
         *
         * @param key the atom's name
         * @return the value or null
         */
        public Term get(String key) {
            return entries.get(new Atom(key));
        }

        /**
         * A copy of this map with {@code key} set to {@code value}.
         *
         * @param key the key
         * @param value the value
         * @return the new map
         */
        public ErlMap with(Term key, Term value) {
            Map<Term, Term> copy = new LinkedHashMap<>(entries);
            copy.put(key, value);
            return new ErlMap(Collections.unmodifiableMap(copy));
        }
    }

    /**
     * A process identifier.
     *
     * @param node the node
     * @param id the id
     * @param serial the serial
     * @param creation the node's creation
     */
    record Pid(Atom node, int id, int serial, int creation) implements Term {}

    /**
     * A port identifier.
     *
     * @param node the node
     * @param id the id
     * @param creation the node's creation
     */
    record PortId(Atom node, long id, int creation) implements Term {}

    /**
     * A reference.
     *
     * @param node the node
     * @param creation the node's creation
     * @param ids the reference's words, owned by the term
     */
    record Ref(Atom node, int creation, int[] ids) implements Term {
        @Override
        public boolean equals(Object o) {
            return o instanceof Ref r && node.equals(r.node) && creation == r.creation
                    && Arrays.equals(ids, r.ids);
        }

        @Override
        public int hashCode() {
            return node.hashCode() * 31 + Arrays.hashCode(ids);
        }

        @Override
        public String toString() {
            return "#Ref<" + node + "." + Arrays.toString(ids) + ">";
        }
    }

    /**
     * A term kept as its encoded bytes (without the version byte), written
     * back exactly as it came: for terms this codec does not model (funs),
     * and for ids that must be echoed byte for byte.
     *
     * @param encoded the encoding
     */
    record Raw(byte[] encoded) implements Term {
        @Override
        public boolean equals(Object o) {
            return o instanceof Raw r && Arrays.equals(encoded, r.encoded);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(encoded);
        }
    }

    /**
     * The atom named {@code name}.
     *
     * @param name the atom's text
     * @return the atom
     */
    static Atom atom(String name) {
        return new Atom(name);
    }

    /**
     * An integer term.
     *
     * @param value the value
     * @return the term
     */
    static Int integer(long value) {
        return new Int(value);
    }

    /**
     * The binary holding {@code text} as UTF-8.
     *
     * @param text the text
     * @return the binary
     */
    static Binary binary(String text) {
        return new Binary(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * A binary over a copy of {@code bytes}.
     *
     * @param bytes the bytes
     * @return the binary
     */
    static Binary binary(byte[] bytes) {
        return new Binary(bytes.clone());
    }

    /**
     * {@code true} or {@code false}.
     *
     * @param value the boolean
     * @return the atom
     */
    static Atom bool(boolean value) {
        return value ? TRUE : FALSE;
    }

    /**
     * A tuple of {@code elements}.
     *
     * @param elements the elements
     * @return the tuple
     */
    static Tuple tuple(Term... elements) {
        return new Tuple(List.of(elements));
    }

    /**
     * A proper list of {@code elements}.
     *
     * @param elements the elements
     * @return the list
     */
    static ErlList list(List<? extends Term> elements) {
        return new ErlList(List.copyOf(elements), null);
    }

    /**
     * A map of the given entries, in order.
     *
     * @param entries the entries
     * @return the map
     */
    static ErlMap map(Map<? extends Term, ? extends Term> entries) {
        return new ErlMap(Collections.unmodifiableMap(new LinkedHashMap<>(entries)));
    }
}
