"""The driver's support code: loading user modules, reading init()'s answer."""

import logging
import os
import sys

import pytest

import _emqx_python_driver as support
import exhook
from _emqx_python_driver import Driver, DriverError


@pytest.fixture(autouse=True)
def finder_in_place():
    sys.meta_path.insert(0, support.USER_CODE)
    yield
    sys.meta_path.remove(support.USER_CODE)


def module(tmp_path, name, source):
    (tmp_path / (name + ".py")).write_text(source)
    return str(tmp_path)


HOOKS = """
def init():
    return (0, ([("client_connected", "{name}", "handler.on", ["t/#"]),
                 ("message_publish", b"{name}", b"handler.on", [("topics", [b"a/+", "b/#"])])], STATE))
class handler:
    @staticmethod
    def on(*args):
        return args
STATE = object()
"""


def test_load_resolves_dotted_functions_and_reads_both_topic_forms(tmp_path):
    d = module(tmp_path, "sup_hooks", HOOKS.format(name="sup_hooks"))
    driver = Driver("t", [d], "sup_hooks")
    hooks, state = driver.load()
    mod = sys.modules["sup_hooks"]
    assert state is mod.STATE
    assert [(h[0], h[1], h[2], h[3]) for h in hooks] == [
        ("client_connected", mod.handler.on, ["t/#"], "sup_hooks.handler.on"),
        ("message_publish", mod.handler.on, ["a/+", "b/#"], "sup_hooks.handler.on"),
    ]
    driver.unload()
    assert "sup_hooks" not in sys.modules
    assert d not in sys.path


def test_load_imports_the_edited_source_never_bytecode(tmp_path):
    d = module(tmp_path, "sup_fresh", "VALUE = 1\ndef init():\n    return (0, ([], VALUE))\n")
    driver = Driver("t", [d], "sup_fresh")
    assert driver.load()[1] == 1
    driver.unload()
    path = tmp_path / "sup_fresh.py"
    stat = path.stat()
    path.write_text("VALUE = 2\ndef init():\n    return (0, ([], VALUE))\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert driver.load()[1] == 2
    driver.unload()
    assert not (tmp_path / "__pycache__").exists()


def test_two_instances_of_one_driver_coexist_through_a_reload(tmp_path):
    """A reload initialises the new instance before the old one stops:
    the old one's callables keep their module, and stopping it leaves the
    new one's modules imported."""
    source = (
        "import sup_reload_helper\n"
        "def init():\n    return (0, ([('client_connected', 'sup_reload', 'on', [])], None))\n"
        "def on(*args):\n    return sup_reload_helper.VALUE\n"
    )
    d = module(tmp_path, "sup_reload", source)
    helper = tmp_path / "sup_reload_helper.py"
    helper.write_text("VALUE = 'old'\n")
    old = Driver("t", [d], "sup_reload")
    [(_, old_on, _, _)] = old.load()[0]
    helper.write_text("VALUE = 'new'\n")
    new = Driver("t", [d], "sup_reload")
    [(_, new_on, _, _)] = new.load()[0]
    assert (old_on(), new_on()) == ("old", "new")
    old.unload()
    assert sys.modules["sup_reload"].on is new_on
    assert sys.modules["sup_reload_helper"].VALUE == "new"
    assert d in support.USER_CODE.dirs() and d in sys.path
    new.unload()
    assert "sup_reload" not in sys.modules and "sup_reload_helper" not in sys.modules
    assert d not in support.USER_CODE.dirs() and d not in sys.path


def test_an_old_instances_imports_find_its_own_modules_during_a_reload(tmp_path):
    """The old instance's functions import (when called) the helper its
    own load imported, even while a reload's fresh import has dropped it
    from sys.modules, and after the new instance imported another."""
    source = (
        "import sup_lazy_helper\n"
        "def init():\n"
        "    sup_lazy_helper.OWNER = object()\n"
        "    return (0, ([('client_connected', 'sup_lazy', 'on', [])], sup_lazy_helper.OWNER))\n"
        "def on(*args):\n"
        "    import sup_lazy_helper\n"
        "    from sup_lazy_helper import OWNER\n"
        "    assert OWNER is sup_lazy_helper.OWNER\n"
        "    return sup_lazy_helper.OWNER\n"
    )
    d = module(tmp_path, "sup_lazy", source)
    module(tmp_path, "sup_lazy_helper", "OWNER = None\n")
    old = Driver("t", [d], "sup_lazy")
    [(_, old_on, _, _)], old_state = old.load()
    # The moment a reload's fresh import has dropped the old instance's
    # modules and not yet imported its own.
    support._forget_modules([d])
    assert old_on() is old_state
    new = Driver("t", [d], "sup_lazy")
    [(_, new_on, _, _)], new_state = new.load()
    assert old_on() is old_state and new_on() is new_state
    old.unload()
    assert new_on() is new_state
    new.unload()


def test_relative_imports_in_a_package_find_the_instances_modules(tmp_path):
    pkg = tmp_path / "sup_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from . import helper\n"
        "def init():\n"
        "    helper.OWNER = object()\n"
        "    return (0, ([('client_connected', 'sup_pkg', 'on', [])], helper.OWNER))\n"
        "def on(*args):\n"
        "    from .helper import OWNER\n"
        "    from . import helper as again\n"
        "    assert again.OWNER is OWNER\n"
        "    return OWNER\n"
    )
    (pkg / "helper.py").write_text("OWNER = None\n")
    old = Driver("t", [str(tmp_path)], "sup_pkg")
    [(_, old_on, _, _)], old_state = old.load()
    new = Driver("t", [str(tmp_path)], "sup_pkg")
    [(_, new_on, _, _)], new_state = new.load()
    assert (old_on(), new_on()) == (old_state, new_state)
    old.unload()
    new.unload()
    assert "sup_pkg" not in sys.modules and "sup_pkg.helper" not in sys.modules


def test_unload_calls_deinit_and_releases_even_when_it_raises(tmp_path):
    d = module(
        tmp_path,
        "sup_deinit",
        "def init():\n    return (0, ([], None))\ndef deinit():\n    raise RuntimeError('x')\n",
    )
    driver = Driver("t", [d], "sup_deinit")
    driver.load()
    with pytest.raises(RuntimeError):
        driver.unload()
    assert "sup_deinit" not in sys.modules and d not in support.USER_CODE.dirs()


@pytest.mark.parametrize(
    "answer, message",
    [
        ("None", "init() returned None: expected (0, (HookSpecs, State))"),
        ("(0, [])", "init() returned (0, list of 0 items)"),
        ("(1, 'no db')", "init() failed: no db"),
        ("(0, ([('client_connected',)], None))", "hook spec 0 is (str of length 16,)"),
        ("(0, ([(1, 'm', 'f', [])], None))", "the hook name is 1, expected str or bytes"),
        ("(0, ([('client_connected', 'sup_bad', 'nope', [])], None))", "sup_bad.nope does not exist"),
        ("(0, ([('client_connected', 'sup_bad', 'init', 5)], None))", "opts is 5, expected a list"),
    ],
)
def test_unusable_answers_of_init_say_what_is_wrong(tmp_path, answer, message):
    d = module(tmp_path, "sup_bad", "def init():\n    return %s\n" % answer)
    with pytest.raises(DriverError, match=None) as raised:
        Driver("t", [d], "sup_bad").load()
    assert message in str(raised.value)
    assert d not in sys.path, "a failed load leaves nothing behind"


def test_a_missing_init_module_and_a_syntax_error_say_where(tmp_path):
    with pytest.raises(DriverError) as raised:
        Driver("t", [str(tmp_path)], "sup_absent").load()
    assert str(raised.value) == "no module sup_absent (sup_absent.py) in %s" % tmp_path
    d = module(tmp_path, "sup_syntax", "def init():\n    return (0, ([], None)\n")
    with pytest.raises(DriverError) as raised:
        Driver("t", [d], "sup_syntax").load()
    text = str(raised.value)
    assert text.startswith("syntax error in %s, line 2:\n" % (tmp_path / "sup_syntax.py"))
    assert "return (0, ([], None)" in text and "SyntaxError: " in text
    # A module the init module imports that is missing is not the init module.
    module(tmp_path, "sup_imports", "import sup_not_installed\n")
    with pytest.raises(ModuleNotFoundError):
        Driver("t", [d], "sup_imports").load()


def test_relative_path_entries_are_refused():
    with pytest.raises(DriverError, match="not absolute"):
        Driver("t", ["relative/dir"], "x").load()


def test_a_venv_goes_before_the_system_site_directories(tmp_path):
    version = "python%d.%d" % sys.version_info[:2]
    packages = tmp_path / "lib" / version / "site-packages"
    packages.mkdir(parents=True)
    (packages / "extra.pth").write_text(str(tmp_path / "from_pth") + "\n")
    (tmp_path / "from_pth").mkdir()
    saved = list(sys.path)
    try:
        support._add_venv(str(tmp_path))
        assert str(packages) in sys.path and str(tmp_path / "from_pth") in sys.path
        system = [i for i, p in enumerate(sys.path) if p in set(__import__("site").getsitepackages())]
        if system:
            assert sys.path.index(str(packages)) < min(system)
    finally:
        sys.path[:] = saved
    with pytest.raises(DriverError, match="has no lib/"):
        support._add_venv(str(tmp_path / "missing"))


def test_without_a_venv_key_the_started_one_or_one_in_the_path_is_used(tmp_path):
    def venv(where):
        where.mkdir(parents=True)
        (where / "pyvenv.cfg").write_text("home = /usr/bin\n")
        return str(where)

    extension = tmp_path / "data" / "extension"
    assert support.find_venv([str(extension)], environ={}) is None
    in_path = venv(extension / "venv")
    assert support.find_venv([str(extension)], environ={}) == in_path
    started = venv(tmp_path / "started")
    assert support.find_venv([str(extension)], environ={"VIRTUAL_ENV": started}) == started
    # A directory without pyvenv.cfg is no virtual environment.
    assert support.find_venv([str(tmp_path)], environ={"VIRTUAL_ENV": str(tmp_path)}) is None


def test_a_directory_in_the_path_does_not_hide_a_module_of_its_name(tmp_path):
    (tmp_path / "colorsys").mkdir()
    sys.modules.pop("colorsys", None)
    d = module(tmp_path, "sup_stdlib", "import colorsys\ndef init():\n    return (0, ([], colorsys.__file__))\n")
    driver = Driver("t", [d], "sup_stdlib")
    assert driver.load()[1].endswith("colorsys.py")
    driver.unload()


def test_describe_never_shows_text():
    assert support.describe(b"password") == "bytes of length 8"
    assert support.describe((0, "payload")) == "(0, str of length 7)"
    assert support.describe(("x",)) == "(str of length 1,)"
    assert support.describe([1, 2, 3]) == "list of 3 items"
    assert support.describe(None) == "None"


def test_the_log_handler_sends_records_at_their_level():
    seen = []
    handler = support.BrokerLogHandler(lambda level, text: seen.append((level, text)))
    logger = logging.getLogger("sup_test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("careful %s", "now")
    finally:
        logger.removeHandler(handler)
    assert seen == [(logging.WARNING, "sup_test: careful now")]


def test_format_exception_keeps_the_end_of_a_long_traceback():
    try:
        raise ValueError("x" * (support.TRACEBACK_LIMIT * 2))
    except ValueError as e:
        text = support.format_exception(e)
    assert text.startswith("...\n") and text.endswith("x")
    assert len(text) <= support.TRACEBACK_LIMIT + 4


def test_settings_are_given_to_import_init_and_deinit_on_the_loading_thread(tmp_path):
    d = module(tmp_path, "sup_settings", """
import exhook
AT_IMPORT = exhook.settings()
SEEN = {}
def init():
    SEEN["init"] = exhook.settings()
    return (0, ([], None))
def deinit():
    SEEN["deinit"] = exhook.settings()
""")
    driver = Driver("t", [d], "sup_settings",
                    settings=[("database", "a.db"), ("node", "n@h"), ("database", "b.db")])
    driver.load()
    mod = sys.modules["sup_settings"]
    expected = {"database": "a.db", "node": "n@h"}
    assert mod.AT_IMPORT == expected
    assert mod.SEEN["init"] == expected
    with pytest.raises(RuntimeError):
        exhook.settings()
    driver.unload()
    assert mod.SEEN["deinit"] == expected
    with pytest.raises(RuntimeError):
        exhook.settings()
