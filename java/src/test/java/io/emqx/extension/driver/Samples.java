package io.emqx.extension.driver;

import io.emqx.extension.etf.Term;
import io.emqx.extension.etf.Term.Tuple;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Terms shaped as the arguments captured in EMQX 4.4.19 (tests/fixtures). */
final class Samples {

    private Samples() {}

    static Term atom(String name) {
        return Term.atom(name);
    }

    static Term bin(String text) {
        return Term.binary(text);
    }

    static Term num(long n) {
        return Term.integer(n);
    }

    /** A map from alternating atom keys and values. */
    static Term.ErlMap map(Object... kv) {
        Map<Term, Term> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(Term.atom((String) kv[i]), (Term) kv[i + 1]);
        }
        return Term.map(m);
    }

    static Term localhost() {
        return Term.tuple(num(127), num(0), num(0), num(1));
    }

    static Term.ErlMap clientInfo(String clientid, String username) {
        return map("anonymous", Term.FALSE, "auth_result", atom("success"), "clientid", bin(clientid),
                "is_bridge", Term.FALSE, "is_superuser", Term.FALSE, "mountpoint", Term.UNDEFINED,
                "peerhost", localhost(), "protocol", atom("mqtt"), "sockport", num(1883),
                "username", username == null ? Term.UNDEFINED : bin(username), "zone", atom("external"));
    }

    static Term.ErlMap authClientInfo(String clientid, String username) {
        return map("clientid", bin(clientid), "is_bridge", Term.FALSE, "is_superuser", Term.FALSE,
                "mountpoint", Term.UNDEFINED, "password", bin("secret"), "peerhost", localhost(),
                "protocol", atom("mqtt"), "sockport", num(1883),
                "username", username == null ? Term.UNDEFINED : bin(username), "zone", atom("external"));
    }

    static Term.ErlMap authAcc() {
        return map("anonymous", Term.TRUE, "auth_result", atom("success"));
    }

    static Term.ErlMap connInfo(String username) {
        return map("clean_start", Term.TRUE, "clientid", bin("c-bad"), "conn_mod", atom("emqx_connection"),
                "conn_props", map(), "expiry_interval", num(0), "keepalive", num(60),
                "peercert", Term.UNDEFINED, "peername", Term.tuple(localhost(), num(33854)),
                "proto_name", bin("MQTT"), "proto_ver", num(4), "receive_maximum", num(32),
                "sockname", Term.tuple(localhost(), num(1883)), "socktype", atom("tcp"),
                "username", bin(username));
    }

    static Term subOpts() {
        return map("nl", num(0), "qos", num(1), "rap", num(0), "rh", num(0));
    }

    static Tuple message(String topic) {
        return Term.tuple(atom("message"),
                Term.binary(new byte[] {0, 6, 97, 35, 93, (byte) 192, 100, 117, (byte) 244, 67, 0, 0, 6, (byte) 174, 0, 1}),
                num(1), bin("pubA"), map("dup", Term.FALSE, "retain", Term.FALSE),
                map("peerhost", localhost(), "properties", map(), "proto_ver", num(4), "protocol", atom("mqtt"),
                        "username", bin("good")),
                bin(topic), bin("m1"), num(1795654384903L));
    }

    static Tuple args(Term... args) {
        return Term.tuple(args);
    }

    static Term list(Term... items) {
        return Term.list(List.of(items));
    }
}
