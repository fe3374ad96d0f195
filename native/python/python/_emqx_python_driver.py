"""Internal support code of the python3 driver; handlers never import it.

The driver's library (``libemqx_extension_hook_python.so``) runs this
module once when it starts the interpreter (:func:`install`), and builds a
:class:`Driver` for every python3 driver the broker enables. Kept in
Python so that the parts with no need for speed read plainly and are
tested with pytest; every hook call goes straight from the library to the
user's function.
"""

import builtins
import contextlib
import importlib
import importlib.machinery
import importlib.util
import io
import logging
import os
import site
import sys
import threading
import traceback

import exhook

__all__ = ["DriverError", "Driver", "install", "describe", "format_exception"]

# Longest traceback text handed to the broker's log, in characters (its end is kept).
TRACEBACK_LIMIT = 8192


class DriverError(Exception):
    """A driver cannot start: its text says why, for the broker's log."""


# ---------------------------------------------------------------------------
# Where print(), sys.stderr and logging go


class BrokerLogHandler(logging.Handler):
    """Sends ``logging`` records to the broker's log at their own level."""

    def __init__(self, emit):
        super().__init__(logging.NOTSET)
        self._emit = emit
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record):
        try:
            self._emit(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)


_installed = {}


def install(stdout, stderr, emit):
    """Routes ``sys.stdout`` (info), ``sys.stderr`` (warning) and the root
    logger (each record at its level; the root level starts at INFO, then
    the library makes it follow the broker's, unless user code set it) to
    the broker's log; gives the driver's finder of user code its place. Called once,
    then again by every :meth:`Driver.load` to undo what user code may
    have changed."""
    if not _installed:
        _installed.update(stdout=stdout, stderr=stderr, handler=BrokerLogHandler(emit))
        logging.getLogger().setLevel(logging.INFO)
    _reinstall()


def _reinstall():
    if not _installed:
        return
    sys.stdout = _installed["stdout"]
    sys.stderr = _installed["stderr"]
    # input() in a hook would otherwise wait on the broker's own stdin.
    sys.stdin = io.StringIO()
    root = logging.getLogger()
    if _installed["handler"] not in root.handlers:
        root.addHandler(_installed["handler"])
    if USER_CODE not in sys.meta_path:
        sys.meta_path.insert(0, USER_CODE)


# ---------------------------------------------------------------------------
# Loading user code: fresh on every load, never from bytecode


class SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles a module from its source on every import: a cached ``.pyc``
    whose recorded size and mtime happen to match an edited file is never
    used, and none is written. The module gets the builtins of the driver
    instance importing it (see :class:`InstanceImports`)."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)

    def exec_module(self, module):
        imports = getattr(_importing, "instance", None)
        if imports is not None:
            module.__builtins__ = imports.builtins
        super().exec_module(module)


# The InstanceImports a thread imports user modules for, while it does.
_importing = threading.local()


class InstanceImports:
    """The ``__import__`` of one driver instance's modules.

    A reload initialises a new instance of a driver, importing its modules
    afresh, while the old instance still answers calls: ``sys.modules``
    then holds the new instance's modules (or, for a moment, none). An
    ``import`` run by the old instance's code (a function that imports a
    helper module when called) still gets the module its own instance
    loaded, from ``table``; a user module it never imported comes from
    ``sys.modules`` as usual, and is its own from then on.
    """

    def __init__(self, dirs):
        self.dirs = dirs
        self.table = {}
        # A copy of the builtins with this __import__; modules loaded for
        # this instance use it (exact dict: global lookups stay fast).
        self.builtins = dict(builtins.__dict__, __import__=self)

    def __call__(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            absolute = importlib.util.resolve_name("." * level + name, _package_of(globals))
        else:
            absolute = name
        module = self.table.get(absolute)
        if module is None:
            return self.load(name, globals, locals, fromlist, level, absolute)
        if fromlist:
            if any(
                not hasattr(module, item) and (absolute + "." + item) not in self.table
                for item in fromlist
                if item != "*"
            ):
                return self.load(name, globals, locals, fromlist, level, absolute)
            for item in fromlist:
                sub = self.table.get(absolute + "." + item)
                if item != "*" and sub is not None and not hasattr(module, item):
                    setattr(module, item, sub)
            return module
        if level:
            return module
        top = self.table.get(absolute.partition(".")[0])
        return top if top is not None else self.load(name, globals, locals, fromlist, level, absolute)

    def load(self, name, globals, locals, fromlist, level, absolute):
        """The usual import, for this instance; keeps the user modules it brings."""
        outer = getattr(_importing, "instance", None)
        _importing.instance = self
        try:
            result = _builtin_import(name, globals, locals, fromlist, level)
        finally:
            _importing.instance = outer
        self.keep(_modules_in(self.dirs, [absolute, absolute.partition(".")[0]]))
        return result

    def keep(self, modules):
        for name, module in modules.items():
            self.table.setdefault(name, module)


_builtin_import = builtins.__import__


def _package_of(globals):
    globals = globals or {}
    package = globals.get("__package__")
    if package is None:
        name = globals.get("__name__", "")
        package = name if "__path__" in globals else name.rpartition(".")[0]
    return package


class UserCodeFinder:
    """Finds modules in the live drivers' directories (the first driver to
    register a directory first) and loads their sources with
    :class:`SourceOnlyLoader`."""

    def __init__(self):
        self._dirs = []  # [directory, users]

    def dirs(self):
        return [d for d, _ in self._dirs]

    def owns(self, path):
        """Whether ``path`` (a file or directory) lies in a registered directory."""
        return any(_within(path, d) for d, _ in self._dirs)

    def add(self, dirs):
        for d in dirs:
            for entry in self._dirs:
                if entry[0] == d:
                    entry[1] += 1
                    break
            else:
                self._dirs.append([d, 1])

    def remove(self, dirs):
        """Forgets one use of each of ``dirs``; returns those no driver uses now."""
        gone = []
        for d in dirs:
            for entry in self._dirs:
                if entry[0] == d:
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._dirs.remove(entry)
                        gone.append(d)
                    break
        return gone

    def find_spec(self, name, path=None, target=None):
        if path is None:
            search = self.dirs()
        else:
            search = [p for p in path if self.owns(p)]
        if not search:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is not None and spec.loader is None:
            # A bare directory (say, a virtual environment's) is no user
            # module: the rest of the path may hold a real one by that name.
            return None
        if spec is not None and isinstance(
            spec.loader, importlib.machinery.SourceFileLoader
        ):
            spec.loader = SourceOnlyLoader(name, spec.origin)
            spec.cached = None
        return spec

    def invalidate_caches(self):
        pass


USER_CODE = UserCodeFinder()

# Loads and unloads of drivers take turns: each rearranges interpreter-wide
# state (sys.path, sys.modules, the import caches, USER_CODE's order), and
# one import that ran while another load did so could not find a package
# of the venv (the compat tests loading drivers in parallel: 3 runs in 60).
_LOADING = threading.RLock()


def _within(path, directory):
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _modules_in(dirs, names=None):
    """The modules in ``sys.modules`` loaded from ``dirs``, by name (only
    those of ``names``, if given)."""
    found = {}
    if names is None:
        candidates = list(sys.modules.items())
    else:
        candidates = [(n, sys.modules[n]) for n in names if n in sys.modules]
    for name, module in candidates:
        origin = getattr(module, "__file__", None)
        if isinstance(origin, str) and any(_within(origin, d) for d in dirs):
            found[name] = module
    return found


def _forget_modules(dirs):
    """Drops from ``sys.modules`` every module loaded from ``dirs``."""
    for name in _modules_in(dirs):
        del sys.modules[name]


def _add_venv(venv):
    """Puts a virtual environment's site-packages (and its ``.pth`` entries)
    on ``sys.path`` ahead of the system's site directories."""
    version = "python%d.%d" % sys.version_info[:2]
    packages = os.path.join(venv, "lib", version, "site-packages")
    if not os.path.isdir(packages):
        raise DriverError(
            "venv %s has no lib/%s/site-packages: create it with this broker's "
            "Python (%s -m venv %s)" % (venv, version, sys.executable or "python3", venv)
        )
    if packages in sys.path:
        return
    before = list(sys.path)
    site.addsitedir(packages)
    added = [p for p in sys.path if p not in before]
    rest = [p for p in sys.path if p in before]
    system = set(site.getsitepackages())
    at = next((i for i, p in enumerate(rest) if p in system), len(rest))
    sys.path[:] = rest[:at] + added + rest[at:]


def find_venv(dirs, environ=os.environ):
    """The virtual environment of a driver whose config names none: the
    one the broker was started from (``$VIRTUAL_ENV``), else a ``venv`` or
    ``.venv`` directory in one of the driver's directories (the article's
    ``data/extension/``); ``None`` if there is neither. A virtual
    environment is a directory with a ``pyvenv.cfg``."""
    candidates = [environ.get("VIRTUAL_ENV") or ""]
    candidates += [os.path.join(d, name) for d in dirs for name in ("venv", ".venv")]
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return candidate
    return None


class Driver:
    """One python3 driver: its user module, loaded by :meth:`load` and
    released by :meth:`unload`.

    ``dirs`` are the absolute directories of the driver's ``path``;
    ``venv`` is a virtual environment's directory, or ``None`` for the one
    :func:`find_venv` finds, if any; ``settings`` the driver's config as
    ``(key, value)`` text pairs, which :func:`exhook.settings` gives the
    module while it is loaded and unloaded.
    """

    def __init__(self, name, dirs, init_module, venv=None, settings=()):
        self.name = name
        self.settings = {}
        for key, value in settings:
            self.settings.setdefault(key, value)
        self.dirs = [os.path.normpath(d) for d in dirs]
        self.init_module = init_module
        self.venv = venv or find_venv(self.dirs)
        self.module = None
        # The user modules of this instance: what its imports find, and
        # what its unload forgets (not those of a newer instance of the
        # same driver that a reload started meanwhile).
        self.imports = InstanceImports(self.dirs)

    def load(self):
        """Imports the init module afresh, calls its ``init()`` and returns
        ``(hooks, state)``: ``hooks`` a list of ``(hook_name, callable,
        topics, label)``, ``label`` being ``module.function`` for the log. Raises :class:`DriverError` when the module or its
        answer is unusable, or what ``init()`` raised."""
        with _LOADING:
            return self._load()

    def _load(self):
        _reinstall()
        for d in self.dirs:
            if not os.path.isabs(d):
                raise DriverError("path entry %r is not absolute" % d)
        if self.venv:
            _add_venv(self.venv)
        USER_CODE.add(self.dirs)
        for d in reversed(self.dirs):
            if d not in sys.path:
                sys.path.insert(0, d)
        outer = getattr(_importing, "instance", None)
        _importing.instance = self.imports
        try:
            _forget_modules(self.dirs)
            importlib.invalidate_caches()
            with self._settings_given():
                module = self._import()
                self.imports.keep(_modules_in(self.dirs))
                init = getattr(module, "init", None)
                if not callable(init):
                    raise DriverError(
                        "module %s (%s) has no init()" % (self.init_module, _file_of(module))
                    )
                specs, state = _init_result(init())
            hooks = [_hook(i, spec, module) for i, spec in enumerate(specs)]
            self.imports.keep(_modules_in(self.dirs))
        except BaseException:
            self.imports.keep(_modules_in(self.dirs))
            self._release()
            raise
        finally:
            _importing.instance = outer
        self.module = module
        return hooks, state

    def unload(self):
        """Calls the module's ``deinit()`` (with no arguments) if it has
        one, then forgets the modules its load imported and its
        directories, whatever ``deinit()`` did. Another instance of the
        same driver, loaded since (a reload), keeps its own modules."""
        with _LOADING:
            self._unload()

    def _unload(self):
        module, self.module = self.module, None
        try:
            deinit = getattr(module, "deinit", None)
            if callable(deinit):
                with self._settings_given():
                    deinit()
        finally:
            self._release()

    @contextlib.contextmanager
    def _settings_given(self):
        """:func:`exhook.settings` answers with this driver's settings
        meanwhile (on this thread: another driver may be loading on another)."""
        outer = getattr(exhook._loading, "settings", None)
        exhook._loading.settings = self.settings
        try:
            yield
        finally:
            exhook._loading.settings = outer

    def _import(self):
        existing = sys.modules.get(self.init_module)
        if existing is not None and not any(
            _within(_file_of(existing), d) for d in self.dirs
        ):
            # Another driver's module, or a library's, by the same name:
            # this driver's own comes from its directories.
            del sys.modules[self.init_module]
        # This driver's directories first, should another live driver's hold
        # a module of the same name.
        USER_CODE._dirs.sort(key=lambda entry: entry[0] not in self.dirs)
        try:
            return importlib.import_module(self.init_module)
        except ModuleNotFoundError as e:
            if e.name is None or not _is_part_of(self.init_module, e.name):
                raise
            raise DriverError(
                "no module %s (%s.py) in %s"
                % (self.init_module, self.init_module.replace(".", os.sep), ":".join(self.dirs))
            ) from None
        except SyntaxError as e:
            where = "".join(traceback.format_exception_only(type(e), e)).rstrip("\n")
            raise DriverError(
                "syntax error in %s, line %s:\n%s" % (e.filename, e.lineno, where)
            ) from None

    def _release(self):
        gone = USER_CODE.remove(self.dirs)
        imported, self.imports.table = self.imports.table, {}
        for name, module in imported.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        # Modules imported from a directory no driver uses any more (by a
        # call, after load) go too.
        _forget_modules(gone)
        for d in gone:
            while d in sys.path:
                sys.path.remove(d)


def _is_part_of(dotted, name):
    """Whether module ``name`` is ``dotted`` or one of its parent packages."""
    return dotted == name or dotted.startswith(name + ".")


def _file_of(module):
    return getattr(module, "__file__", None) or "built-in"


def _init_result(result):
    if type(result) is tuple and len(result) == 2 and type(result[0]) is int:
        code, value = result
        if code == 0:
            if (
                isinstance(value, tuple)
                and len(value) == 2
                and isinstance(value[0], (list, tuple))
            ):
                return value
            raise DriverError(
                "init() returned (0, %s): expected (0, (HookSpecs, State))"
                % describe(value)
            )
        if code == 1:
            raise DriverError("init() failed: %s" % _reason(value))
    raise DriverError(
        "init() returned %s: expected (0, (HookSpecs, State))" % describe(result)
    )


def _hook(index, spec, init_module):
    if not (isinstance(spec, (tuple, list)) and len(spec) == 4):
        raise DriverError(
            "hook spec %d is %s: expected (hook_name, module, function, opts)"
            % (index, describe(spec))
        )
    name, module_name, function, opts = spec
    name = _text(name, "hook spec %d: the hook name" % index)
    module_name = _text(module_name, "hook %s: the module" % name)
    function = _text(function, "hook %s: the function" % name)
    if module_name == init_module.__name__:
        target = init_module
    else:
        try:
            target = importlib.import_module(module_name)
        except ImportError as e:
            raise DriverError("hook %s: cannot import module %s: %s" % (name, module_name, e))
    for part in function.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise DriverError(
                "hook %s: %s.%s does not exist" % (name, module_name, function)
            ) from None
    if not callable(target):
        raise DriverError("hook %s: %s.%s is not callable" % (name, module_name, function))
    return name, target, _topics(name, opts), "%s.%s" % (module_name, function)


def _topics(hook, opts):
    """The topic filters in a spec's opts: a list of filters (the PyPI SDK)
    or a proplist with a ``topics`` entry (the Java SDK, the original's tests)."""
    if opts is None:
        return []
    if isinstance(opts, dict):
        opts = list(opts.items())
    if not isinstance(opts, (list, tuple)):
        raise DriverError("hook %s: opts is %s, expected a list" % (hook, describe(opts)))
    topics = []
    for item in opts:
        if isinstance(item, (str, bytes)):
            topics.append(_text(item, "hook %s: a topic filter" % hook))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            key, value = item
            if isinstance(key, (str, bytes)) and _text(key, "") == "topics":
                if isinstance(value, (str, bytes)):
                    value = [value]
                topics.extend(_text(t, "hook %s: a topic filter" % hook) for t in value)
        else:
            raise DriverError(
                "hook %s: opts entry %s is neither a topic filter nor (key, value)"
                % (hook, describe(item))
            )
    return topics


def _text(value, what):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DriverError("%s is not UTF-8" % what) from None
    if isinstance(value, str):
        return value
    raise DriverError("%s is %s, expected str or bytes" % (what, describe(value)))


def _reason(value):
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return text[:200]
    return describe(value)


def describe(value, depth=0):
    """The shape of a value for a log line, never its text: a hook's
    answer may hold a password or a payload.

    >>> describe((0, [1, 2]))
    '(0, list of 2 items)'
    >>> describe(b"secret")
    'bytes of length 6'
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, bytes) and type(value).__name__ == "Atom":
        return repr(value)
    if isinstance(value, (str, bytes)):
        return "%s of length %d" % (type(value).__name__, len(value))
    if isinstance(value, tuple) and depth < 2:
        items = [describe(v, depth + 1) for v in value[:6]]
        if len(value) > 6:
            items.append("...")
        return "(%s%s)" % (", ".join(items), "," if len(value) == 1 else "")
    if isinstance(value, (list, tuple, dict, set)):
        return "%s of %d items" % (type(value).__name__, len(value))
    return "a %s" % type(value).__name__


def format_exception(exc, tb=None):
    """The traceback of ``exc`` (through ``tb``, by default its own) as
    text, at most :data:`TRACEBACK_LIMIT` characters (the end, where the
    error is, kept)."""
    tb = tb or exc.__traceback__
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(text) > TRACEBACK_LIMIT:
        text = "...\n" + text[-TRACEBACK_LIMIT:]
    return text.rstrip("\n")
