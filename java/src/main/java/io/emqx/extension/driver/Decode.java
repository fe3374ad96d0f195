package io.emqx.extension.driver;

import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Atom;
import io.emqx.extension.etf.Term.Binary;
import io.emqx.extension.etf.Term.ErlList;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.Int;
import io.emqx.extension.etf.Term.Tuple;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Message;
import io.emqx.extension.handler.codec.Property;
import io.emqx.extension.handler.codec.SubscribeOption;
import io.emqx.extension.handler.codec.TopicFilter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The broker's hook arguments turned into the SDK's classes.
 *
 * <p>Lenient about what the broker may vary (extra or missing keys,
 * {@code undefined} for a binary, IPv6) and strict only about a shape a hook
 * cannot work without (a ClientInfo that is not a map, a message that is not
 * a {@code #message{}} record), which is a {@link BadArgException}.
 */
public final class Decode {

    static final Atom MESSAGE = Term.atom("message");

    private Decode() {}

    /**
     * A binary as UTF-8 text (malformed bytes replaced), an atom as its name;
     * null for {@code undefined} and any other shape.
     *
     * @param t the term
     * @return the text or null
     */
    public static String text(Term t) {
        if (t instanceof Binary b) {
            return new String(b.bytes(), StandardCharsets.UTF_8);
        }
        if (t instanceof Atom a && !a.equals(Term.UNDEFINED)) {
            return a.name();
        }
        return null;
    }

    /**
     * Any term as text: {@link #text} where it applies, else the term printed.
     *
     * @param t the term
     * @return the text
     */
    public static String anyText(Term t) {
        String s = text(t);
        return s != null ? s : render(t);
    }

    /**
     * The term printed roughly as Erlang prints it.
     *
     * @param t the term
     * @return the text
     */
    public static String render(Term t) {
        StringBuilder sb = new StringBuilder();
        render(t, sb);
        return sb.toString();
    }

    private static void render(Term t, StringBuilder sb) {
        if (t instanceof Tuple tu) {
            sb.append('{');
            joined(tu.elements(), sb);
            sb.append('}');
        } else if (t instanceof ErlList l) {
            sb.append('[');
            joined(l.elements(), sb);
            if (!l.isProper()) {
                sb.append('|');
                render(l.tail(), sb);
            }
            sb.append(']');
        } else if (t instanceof ErlMap m) {
            sb.append("#{");
            boolean first = true;
            for (Map.Entry<Term, Term> e : m.entries().entrySet()) {
                sb.append(first ? "" : ",");
                first = false;
                render(e.getKey(), sb);
                sb.append(" => ");
                render(e.getValue(), sb);
            }
            sb.append('}');
        } else if (t instanceof Binary b) {
            sb.append("<<\"").append(new String(b.bytes(), StandardCharsets.UTF_8)).append("\">>");
        } else {
            sb.append(t);
        }
    }

    private static void joined(List<Term> terms, StringBuilder sb) {
        for (int i = 0; i < terms.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            render(terms.get(i), sb);
        }
    }

    static ErlMap map(String what, Term t) {
        if (t instanceof ErlMap m) {
            return m;
        }
        throw new BadArgException(what + ": expected a map, got " + kind(t));
    }

    static String kind(Term t) {
        return t == null ? "nothing" : t.getClass().getSimpleName();
    }

    static long integer(Term t, long fallback) {
        return t instanceof Int i ? i.value() : fallback;
    }

    static boolean isTrue(Term t) {
        return Term.TRUE.equals(t);
    }

    /**
     * An IP tuple as text: dotted IPv4, or IPv6 in its shortest form (RFC 5952).
     *
     * @param t {@code {A,B,C,D}} or an 8-tuple
     * @return the text, or null for any other shape
     */
    public static String ip(Term t) {
        if (!(t instanceof Tuple tu) || (tu.arity() != 4 && tu.arity() != 8)) {
            return null;
        }
        long[] parts = new long[tu.arity()];
        for (int i = 0; i < parts.length; i++) {
            parts[i] = integer(tu.get(i), -1);
            if (parts[i] < 0 || parts[i] > (parts.length == 4 ? 255 : 0xffff)) {
                return null;
            }
        }
        StringBuilder sb = new StringBuilder();
        if (parts.length == 4) {
            for (int i = 0; i < 4; i++) {
                sb.append(i > 0 ? "." : "").append(parts[i]);
            }
            return sb.toString();
        }
        // The longest run of two or more zero groups becomes "::".
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; i++) {
            int j = i;
            while (j < 8 && parts[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
        }
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Long.toHexString(parts[i]));
        }
        return sb.toString();
    }

    /**
     * The broker's ClientInfo map.
     *
     * @param t the map
     * @param node the broker node's name, or null
     * @return the client
     */
    public static ClientInfo clientInfo(Term t, String node) {
        ErlMap m = map("ClientInfo", t);
        return new ClientInfo(node, orEmpty(text(m.get("clientid"))), text(m.get("username")),
                text(m.get("password")), ip(m.get("peerhost")), (int) integer(m.get("sockport"), 0),
                text(m.get("protocol")), text(m.get("mountpoint")), isTrue(m.get("is_superuser")),
                isTrue(m.get("anonymous")), text(m.get("zone")), isTrue(m.get("is_bridge")),
                text(m.get("cn")), text(m.get("dn")));
    }

    /**
     * The broker's ConnInfo map.
     *
     * @param t the map
     * @param node the broker node's name, or null
     * @return the connection
     */
    public static ConnInfo connInfo(Term t, String node) {
        ErlMap m = map("ConnInfo", t);
        String peerHost = null;
        if (m.get("peername") instanceof Tuple peer && peer.arity() == 2) {
            peerHost = ip(peer.get(0));
        }
        int sockPort = 0;
        if (m.get("sockname") instanceof Tuple sock && sock.arity() == 2) {
            sockPort = (int) integer(sock.get(1), 0);
        }
        return new ConnInfo(node, text(m.get("clientid")), text(m.get("username")), peerHost, sockPort,
                text(m.get("proto_name")), (int) integer(m.get("proto_ver"), 0),
                (int) integer(m.get("keepalive"), 0));
    }

    /**
     * MQTT 5 properties (a map keyed by names such as {@code 'User-Property'});
     * {@code undefined} is no properties.
     *
     * @param t the map
     * @return the properties, each User-Property pair as one
     */
    public static Property[] properties(Term t) {
        if (Term.UNDEFINED.equals(t)) {
            return new Property[0];
        }
        List<Property> out = new ArrayList<>();
        for (Map.Entry<Term, Term> e : map("Properties", t).entries().entrySet()) {
            String key = anyText(e.getKey());
            if (e.getValue() instanceof ErlList pairs && key.equals("User-Property")) {
                for (Term pair : pairs.elements()) {
                    if (pair instanceof Tuple kv && kv.arity() == 2) {
                        out.add(new Property(anyText(kv.get(0)), anyText(kv.get(1))));
                    }
                }
            } else {
                out.add(new Property(key, anyText(e.getValue())));
            }
        }
        return out.toArray(new Property[0]);
    }

    /**
     * The {@code [{TopicFilter, SubOpts}]} of {@code client.subscribe} and
     * {@code client.unsubscribe}, as 2-tuples.
     *
     * @param t the list
     * @return the pairs
     */
    public static List<Tuple> filterPairs(Term t) {
        if (!(t instanceof ErlList l) || !l.isProper()) {
            throw new BadArgException("topic filter list: expected a list, got " + kind(t));
        }
        List<Tuple> out = new ArrayList<>(l.elements().size());
        for (Term item : l.elements()) {
            if (!(item instanceof Tuple pair) || pair.arity() != 2) {
                throw new BadArgException("{TopicFilter, SubOpts}: got " + render(item));
            }
            out.add(pair);
        }
        return out;
    }

    /**
     * One {@code {TopicFilter, SubOpts}} pair as a TopicFilter.
     *
     * @param pair the pair
     * @return the filter with its requested QoS
     */
    public static TopicFilter topicFilter(Tuple pair) {
        long qos = pair.get(1) instanceof ErlMap opts ? integer(opts.get("qos"), 0) : 0;
        return new TopicFilter(topic(pair.get(0)), (int) qos);
    }

    /**
     * A topic or topic filter (a binary).
     *
     * @param t the term
     * @return the text
     */
    public static String topic(Term t) {
        String s = text(t);
        if (s == null) {
            throw new BadArgException("topic: expected a binary, got " + kind(t));
        }
        return s;
    }

    /**
     * The broker's SubOpts map.
     *
     * @param t the map
     * @return the options
     */
    public static SubscribeOption subOpts(Term t) {
        ErlMap m = map("SubOpts", t);
        return new SubscribeOption(isTrue(m.get("is_new")), (int) integer(m.get("nl"), 0),
                (int) integer(m.get("qos"), 0), (int) integer(m.get("rap"), 0), (int) integer(m.get("rh"), 0));
    }

    /**
     * The fields of a {@code #message{}} record, tag first.
     *
     * @param t the record
     * @return the 9-tuple
     */
    public static Tuple messageRecord(Term t) {
        if (t instanceof Tuple tu && tu.arity() == 9 && MESSAGE.equals(tu.get(0))) {
            return tu;
        }
        throw new BadArgException("Message: expected a #message{} record, got " + kind(t));
    }

    /**
     * A {@code #message{}} record.
     *
     * @param record the record's fields, see {@link #messageRecord}
     * @param node the broker node's name, or null
     * @return the message
     */
    public static Message message(Tuple record, String node) {
        if (!(record.get(7) instanceof Binary payload)) {
            throw new BadArgException("Message payload: expected a binary, got " + kind(record.get(7)));
        }
        String id = record.get(1) instanceof Binary b ? hex(b.bytes()) : anyText(record.get(1));
        Message msg = new Message(node, id, (int) integer(record.get(2), 0), text(record.get(3)),
                topic(record.get(6)), payload.bytes().clone(), integer(record.get(8), 0));
        msg.retain = record.get(4) instanceof ErlMap flags && isTrue(flags.get("retain"));
        return msg;
    }

    static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return sb.toString();
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
