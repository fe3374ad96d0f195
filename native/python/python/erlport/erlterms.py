"""Erlang terms as the python3 driver's hooks see them (erlport's model).

How Erlang values reach a hook:

========================  =========================================
Erlang                    Python
========================  =========================================
binary                    ``bytes``
atom                      :class:`Atom` (a ``bytes`` subclass)
``true`` / ``false``      ``True`` / ``False``
``undefined``             ``None``
integer                   ``int``
list                      :class:`List` (a ``list`` subclass)
tuple                     ``tuple``
========================  =========================================

A hook's proplist argument is a :class:`List` of ``(Atom(key), value)``
pairs, e.g. ``List([(Atom(b'clientid'), b'c1'), ...])``.
"""

__all__ = ["Atom", "List", "ImproperList", "OpaqueObject"]


class Atom(bytes):
    """An Erlang atom: its name as bytes (at most 255 of them).

    >>> Atom(b"mqtt") == b"mqtt"
    True
    >>> Atom(b"mqtt")
    Atom(b'mqtt')
    """

    __slots__ = ()

    def __new__(cls, name):
        if isinstance(name, Atom):
            return name
        if not isinstance(name, bytes):
            raise TypeError("an atom's name must be bytes")
        if len(name) > 255:
            raise ValueError("an atom's name has at most 255 bytes")
        return super().__new__(cls, name)

    def __repr__(self):
        return "Atom(%s)" % super().__repr__()


class List(list):
    """An Erlang list; a list of character codes converts to text.

    >>> List([104, 105]).to_string()
    'hi'
    """

    __slots__ = ()

    def to_string(self):
        """The list's items as character codes joined into a ``str``."""
        return "".join(map(chr, self))

    def __repr__(self):
        return "List(%s)" % super().__repr__()


class ImproperList(list):
    """An Erlang list whose last tail is not ``[]``: its items plus ``tail``.

    >>> ImproperList([1, 2], 3).tail
    3
    """

    __slots__ = ("tail",)

    def __init__(self, items, tail):
        if not isinstance(items, list):
            raise TypeError("the items of an improper list must be a list")
        if not items:
            raise ValueError("an improper list has at least one item")
        if isinstance(tail, list):
            raise TypeError("the tail of an improper list is not a list")
        super().__init__(items)
        self.tail = tail

    def __eq__(self, other):
        return (
            type(self) is type(other)
            and list.__eq__(self, other)
            and self.tail == other.tail
        )

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        return "ImproperList(%s, %r)" % (list.__repr__(self), self.tail)


class OpaqueObject:
    """A value of another language that Python only carries: its encoded
    ``data`` (bytes) and the ``language`` (an :class:`Atom`) it belongs to.

    >>> OpaqueObject(b"\\x83j", Atom(b"erlang")).language
    Atom(b'erlang')
    """

    __slots__ = ("data", "language")

    marker = Atom(b"$erlport.opaque")

    def __init__(self, data, language):
        if not isinstance(data, bytes):
            raise TypeError("the data of an opaque object must be bytes")
        if not isinstance(language, Atom):
            raise TypeError("the language of an opaque object must be an Atom")
        self.data = data
        self.language = language

    def __eq__(self, other):
        return (
            type(self) is type(other)
            and self.language == other.language
            and self.data == other.data
        )

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self), self.language, self.data))

    def __repr__(self):
        return "OpaqueObject(%r, %r)" % (self.data, self.language)
