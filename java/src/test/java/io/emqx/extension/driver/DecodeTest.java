package io.emqx.extension.driver;

import static io.emqx.extension.driver.Samples.bin;
import static io.emqx.extension.driver.Samples.clientInfo;
import static io.emqx.extension.driver.Samples.list;
import static io.emqx.extension.driver.Samples.map;
import static io.emqx.extension.driver.Samples.num;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.emqx.extension.etf.Term;
import io.emqx.extension.handler.codec.ClientInfo;
import io.emqx.extension.handler.codec.ConnInfo;
import io.emqx.extension.handler.codec.Property;
import org.junit.jupiter.api.Test;

class DecodeTest {

    private static Term ip(long... parts) {
        Term[] t = new Term[parts.length];
        for (int i = 0; i < parts.length; i++) {
            t[i] = num(parts[i]);
        }
        return Term.tuple(t);
    }

    @Test
    void addressesAreTextAndIpv6IsShortest() {
        assertEquals("127.0.0.1", Decode.ip(ip(127, 0, 0, 1)));
        assertEquals("2001:db8::1", Decode.ip(ip(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        assertEquals("::1", Decode.ip(ip(0, 0, 0, 0, 0, 0, 0, 1)));
        assertEquals("::", Decode.ip(ip(0, 0, 0, 0, 0, 0, 0, 0)));
        assertEquals("1:0:2::", Decode.ip(ip(1, 0, 2, 0, 0, 0, 0, 0)));
        assertEquals("1:2:3:4:5:6:7:8", Decode.ip(ip(1, 2, 3, 4, 5, 6, 7, 8)));
        assertNull(Decode.ip(ip(300, 0, 0, 1)));
        assertNull(Decode.ip(Term.UNDEFINED));
    }

    @Test
    void aClientInfoToleratesUndefinedAndMissingKeys() {
        ClientInfo c = Decode.clientInfo(clientInfo("subA", null), null);
        assertEquals("subA", c.clientId);
        assertNull(c.userName);
        assertNull(c.password);
        assertNull(c.mountPoint);
        assertEquals("external", c.zone);
        assertEquals("mqtt", c.protocol);
        assertEquals(1883, c.sockPort);
        assertFalse(c.toString().contains("secret"));
        ClientInfo bare = Decode.clientInfo(map(), "n");
        assertEquals("", bare.clientId);
        assertNull(bare.peerHost);
    }

    @Test
    void aConnInfoTakesThePeerAddressAndTheListenerPort() {
        ConnInfo c = Decode.connInfo(Samples.connInfo("bad"), null);
        assertEquals("127.0.0.1", c.peerHost);
        assertEquals(1883, c.sockPort);
        assertEquals("MQTT", c.protoName);
        assertEquals(4, c.protoVersion);
        assertEquals(60, c.keepalive);
        assertEquals("bad", c.userName);
    }

    @Test
    void userPropertiesBecomeOnePropertyPerPair() {
        Term props = Term.map(java.util.Map.of(
                Term.atom("User-Property"), list(Term.tuple(bin("k1"), bin("v1")), Term.tuple(bin("k2"), bin("v2")))));
        assertArrayEquals(new Property[] {new Property("k1", "v1"), new Property("k2", "v2")}, Decode.properties(props));
        Term expiry = Term.map(java.util.Map.of(Term.atom("Session-Expiry-Interval"), num(30)));
        assertArrayEquals(new Property[] {new Property("Session-Expiry-Interval", "30")}, Decode.properties(expiry));
        assertEquals(0, Decode.properties(Term.UNDEFINED).length);
    }

    @Test
    void aMessageCarriesItsIdAsHexAndItsPayload() {
        var msg = Decode.message(Samples.message("p/1"), "n");
        assertEquals("000661235dc06475f443000006ae0001", msg.id);
        assertEquals(1795654384903L, msg.timestamp);
        assertEquals("pubA", msg.from);
        assertEquals(1, msg.qos);
        assertArrayEquals("m1".getBytes(java.nio.charset.StandardCharsets.UTF_8), msg.payload);
        assertFalse(msg.toString().contains("m1"));
    }

    @Test
    void anyTermPrintsForReasons() {
        assertEquals("{shutdown,discarded}", Decode.anyText(Term.tuple(Term.atom("shutdown"), Term.atom("discarded"))));
        assertEquals("normal", Decode.anyText(Term.atom("normal")));
    }
}
