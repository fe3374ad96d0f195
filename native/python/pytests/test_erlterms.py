"""erlport's data model: what `from erlport.erlterms import ...` gives hooks."""

import pytest

from erlport.erlterms import Atom, ImproperList, List, OpaqueObject


def test_an_atom_is_bytes_with_its_own_repr():
    atom = Atom(b"mqtt")
    assert isinstance(atom, bytes) and atom == b"mqtt"
    assert atom.decode("utf-8") == "mqtt"
    assert repr(atom) == "Atom(b'mqtt')"
    assert Atom(atom) is atom


def test_an_atom_is_made_from_at_most_255_bytes():
    with pytest.raises(TypeError):
        Atom("mqtt")
    with pytest.raises(ValueError):
        Atom(b"a" * 256)


def test_a_list_is_a_list_that_converts_to_text():
    items = List([104, 105])
    assert isinstance(items, list)
    assert items.to_string() == "hi"
    assert repr(List([(Atom(b"k"), b"v")])) == "List([(Atom(b'k'), b'v')])"


def test_an_improper_list_keeps_its_tail():
    improper = ImproperList([1, 2], 3)
    assert list(improper) == [1, 2] and improper.tail == 3
    assert improper == ImproperList([1, 2], 3)
    assert improper != ImproperList([1, 2], 4)
    assert repr(improper) == "ImproperList([1, 2], 3)"
    with pytest.raises(ValueError):
        ImproperList([], 3)
    with pytest.raises(TypeError):
        ImproperList([1], [2])


def test_an_opaque_object_carries_another_languages_data():
    opaque = OpaqueObject(b"\x83j", Atom(b"erlang"))
    assert opaque == OpaqueObject(b"\x83j", Atom(b"erlang"))
    assert hash(opaque) == hash(OpaqueObject(b"\x83j", Atom(b"erlang")))
    assert OpaqueObject.marker == Atom(b"$erlport.opaque")
    with pytest.raises(TypeError):
        OpaqueObject(b"", b"erlang")
