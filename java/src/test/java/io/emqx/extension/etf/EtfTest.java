package io.emqx.extension.etf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.emqx.extension.etf.Term.Atom;
import io.emqx.extension.etf.Term.BigInt;
import io.emqx.extension.etf.Term.Binary;
import io.emqx.extension.etf.Term.BitString;
import io.emqx.extension.etf.Term.ErlList;
import io.emqx.extension.etf.Term.ErlMap;
import io.emqx.extension.etf.Term.FloatTerm;
import io.emqx.extension.etf.Term.Int;
import io.emqx.extension.etf.Term.Pid;
import io.emqx.extension.etf.Term.Raw;
import io.emqx.extension.etf.Term.Ref;
import io.emqx.extension.etf.Term.Tuple;
import java.math.BigInteger;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The codec against bytes written by {@code term_to_binary/1} of OTP 25
 * (the hex strings below), and round trips of every kind of term.
 */
class EtfTest {

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s);
    }

    /** Decodes the VM's bytes to {@code expected} and writes them back byte for byte. */
    private static void vmBytes(String vmHex, Term expected) {
        Term decoded = Etf.decode(hex(vmHex));
        assertEquals(expected, decoded);
        assertEquals(vmHex, HexFormat.of().withUpperCase().formatHex(Etf.encode(decoded)));
    }

    private static Term roundTrip(Term t) {
        Term back = Etf.decode(Etf.encode(t));
        assertEquals(t, back);
        return back;
    }

    @Test
    void integersAreWrittenAsTheVmWritesThem() {
        vmBytes("8361FF", new Int(255));
        vmBytes("836200000100", new Int(256));
        vmBytes("8362FFFFFFFF", new Int(-1));
        vmBytes("836280000000", new Int(Integer.MIN_VALUE));
        vmBytes("83627FFFFFFF", new Int(Integer.MAX_VALUE));
        vmBytes("836E040000000080", new Int(2147483648L));
        // A millisecond timestamp, as every message carries.
        vmBytes("836E0600077D5715A201", new Int(1795654384903L));
    }

    @Test
    void bigIntegersBeyondLongKeepTheirValueAndSign() {
        vmBytes("836E0900000000000000000001", new BigInt(BigInteger.ONE.shiftLeft(64)));
        vmBytes("836E0901000000000000000040", new BigInt(BigInteger.ONE.shiftLeft(70).negate()));
        roundTrip(new Int(Long.MIN_VALUE));
        roundTrip(new Int(Long.MAX_VALUE));
        roundTrip(new BigInt(BigInteger.TEN.pow(300)));
        // LARGE_BIG_EXT, beyond 255 bytes of digits.
        roundTrip(new BigInt(BigInteger.TWO.pow(3000).negate()));
    }

    @Test
    void referencesAndPidsKeepTheirFields() {
        // Term-equal round trips; a call's id is echoed from its raw bytes
        // (see aCallsIdIsReadAsItsExactBytes), as the VM writes node names
        // as Latin-1 atoms and this codec as UTF-8 ones.
        Atom node = new Atom("nonode@nohost");
        Ref ref = new Ref(node, 0, new int[] {0x11BF9, 0x5B000001, 0xBDEB444F});
        assertEquals(ref, Etf.decode(hex("835A000364000D6E6F6E6F6465406E6F686F73740000000000011BF95B000001BDEB444F")));
        roundTrip(ref);
        Term pid = Etf.decode(hex("835864000D6E6F6E6F6465406E6F686F7374000000090000000000000000"));
        assertEquals(new Pid(node, 9, 0, 0), pid);
        roundTrip(pid);
        roundTrip(new Term.PortId(node, 7, 3));
        roundTrip(new Term.PortId(node, 1L << 40, 3));
    }

    @Test
    void mapsBinariesAndListsKeepTheirContent() {
        Map<Term, Term> m = new LinkedHashMap<>();
        m.put(new Atom("a"), new Int(1));
        m.put(Term.binary("k"), Term.list(List.of(new Int(1), new Int(2))));
        ErlMap map = (ErlMap) Etf.decode(hex("8374000000026400016161016D000000016B6B00020102"));
        assertEquals(Term.map(m), map);
        assertEquals(new Int(1), map.get("a"));
        roundTrip(map);
        vmBytes("836D00000003010203", new Binary(new byte[] {1, 2, 3}));
        vmBytes("836D00000000", new Binary(new byte[0]));
        vmBytes("834D000000010320", new BitString(new byte[] {0x20}, 3));
        // STRING_EXT is a list of small integers.
        assertEquals(Term.list(List.of(new Int('a'), new Int('b'), new Int('c'))),
                Etf.decode(hex("836B0003616263")));
        vmBytes("836A", Term.NIL);
        ErlList improper = (ErlList) Etf.decode(hex("836C000000016400016164000162"));
        assertFalse(improper.isProper());
        assertEquals(new Atom("b"), improper.tail());
        roundTrip(improper);
        vmBytes("837400000000", Term.map(Map.of()));
    }

    @Test
    void atomsAndTuplesOfAnySize() {
        assertEquals(new Atom("hello"), Etf.decode(hex("8364000568656C6C6F")));
        // A Latin-1 atom read as ATOM_EXT, written back as UTF-8.
        Term latin1 = Etf.decode(hex("83640001E9"));
        assertEquals(new Atom("\u00e9"), latin1);
        assertArrayEquals(hex("837702C3A9"), Etf.encode(latin1));
        vmBytes("83680861016102610361046105610661076108",
                Term.tuple(new Int(1), new Int(2), new Int(3), new Int(4), new Int(5), new Int(6), new Int(7), new Int(8)));
        vmBytes("836800", Term.tuple());
        Term[] many = new Term[300];
        java.util.Arrays.fill(many, Term.OK);
        assertEquals(300, ((Tuple) roundTrip(Term.tuple(many))).arity());
        roundTrip(new Atom("x".repeat(300)));
        roundTrip(new FloatTerm(1.5));
        assertEquals(new FloatTerm(1.5), Etf.decode(hex("83463FF8000000000000")));
    }

    @Test
    void compressedTermsAreInflated() {
        Term t = Etf.decode(hex("835000000326789CCB61606048C90512CC8949C9A3F4283D4A63D25900CF769FD3"));
        ErlList l = assertInstanceOf(ErlList.class, t);
        assertEquals(100, l.elements().size());
        assertEquals(Term.binary("abc"), l.elements().get(99));
    }

    @Test
    void funsAreKeptAsRawBytesAndWrittenBack() {
        byte[] export = hex("83716400056C697374736400036D61706102");
        Term fun = Etf.decode(export);
        assertInstanceOf(Raw.class, fun);
        assertArrayEquals(export, Etf.encode(fun));
    }

    @Test
    void aCallsIdIsReadAsItsExactBytes() {
        byte[] call = hex("83680564000463616C6C5A000364000D6E6F6E6F6465406E6F686F7374000000000003498C1B0C000222CBE0D2610468027400000001640008636C69656E7469646D00000001637400000002640009616E6F6E796D6F75736400047472756564000B617574685F726573756C74640007737563636573736200001388");
        Etf.Reader r = new Etf.Reader(call);
        r.version();
        assertEquals(5, r.tupleArity());
        assertEquals(new Atom("call"), r.term());
        Raw id = r.raw();
        assertArrayEquals(java.util.Arrays.copyOfRange(call, 10, 10 + id.encoded().length), id.encoded());
        assertInstanceOf(Ref.class, Etf.decode(concat(new byte[] {(byte) 131}, id.encoded())));
        assertEquals(new Int(4), r.term());
        assertInstanceOf(Tuple.class, r.term());
        assertEquals(new Int(5000), r.term());
        r.end();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void malformedInputIsAnErrorNamingWhatIsWrong() {
        EtfException noVersion = assertThrows(EtfException.class, () -> Etf.decode(hex("61FF")));
        assertTrue(noVersion.getMessage().contains("131"), noVersion.getMessage());
        assertThrows(EtfException.class, () -> Etf.decode(hex("836D000000030102")));
        assertThrows(EtfException.class, () -> Etf.decode(hex("836D7FFFFFFF")));
        assertThrows(EtfException.class, () -> Etf.decode(hex("8361FF00")));
        EtfException tag = assertThrows(EtfException.class, () -> Etf.decode(hex("83FF")));
        assertTrue(tag.getMessage().contains("255"), tag.getMessage());
        assertThrows(EtfException.class, () -> Etf.decode(hex("83")));
    }
}
