"""The decisions module hooks return beyond the original's three answers."""

import pytest

import exhook


def test_refuse_takes_a_refusing_connack_reason_code():
    assert exhook.refuse().reason_code == exhook.NOT_AUTHORIZED == 0x87
    assert exhook.refuse(exhook.BANNED) == exhook.Refuse(0x8A)
    for bad in (0x00, 0x7F, 0x100):
        with pytest.raises(ValueError):
            exhook.refuse(bad)
    with pytest.raises(TypeError):
        exhook.refuse(True)


def test_filter_decisions():
    assert exhook.deny() == exhook.DenyFilter()
    assert exhook.rewrite_filter(b"users/a/#").topic_filter == "users/a/#"
    with pytest.raises(TypeError):
        exhook.rewrite_filter(7)


def test_message_decisions():
    assert exhook.drop() == exhook.Drop()
    rewrite = exhook.rewrite(topic=b"v2/a", payload="text", qos=1)
    assert (rewrite.topic, rewrite.payload, rewrite.qos) == ("v2/a", b"text", 1)
    assert exhook.rewrite() == exhook.Rewrite(None, None, None)
    for bad in (3, -1, True, "1"):
        with pytest.raises(ValueError):
            exhook.rewrite(qos=bad)
    with pytest.raises(TypeError):
        exhook.rewrite(payload=1)


def test_decisions_are_values():
    assert exhook.rewrite(qos=1) == exhook.rewrite(qos=1)
    assert exhook.rewrite(qos=1) != exhook.rewrite(qos=2)
    assert len({exhook.deny(), exhook.deny(), exhook.drop()}) == 2
    assert repr(exhook.refuse(exhook.BANNED)) == "Refuse(reason_code=138)"


def test_allow_superuser_is_a_decision():
    assert exhook.allow_superuser() == exhook.AllowSuperuser()
    assert isinstance(exhook.allow_superuser(), exhook.Decision)


def test_settings_exist_only_while_a_driver_loads():
    with pytest.raises(RuntimeError):
        exhook.settings()
