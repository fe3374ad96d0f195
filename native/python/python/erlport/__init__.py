"""erlport's Python data model, as the python3 driver hands it to hooks.

The original python3 driver ran user code under erlport, so handlers written
for it import ``from erlport.erlterms import Atom``. The driver now runs that
code inside the broker, without erlport; this package keeps those imports
working. See :mod:`erlport.erlterms`.
"""
