"""pytest for the python3 driver's Python support code (native/python/python),
run by `make test-python` with _build/pyvenv's Python (Debian's 3.11)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
