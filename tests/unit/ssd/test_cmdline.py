"""cmdline.txt parsing and token-exact editing (plugins/module_utils/ssd_cmdline.py)."""

import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import ssd_cmdline as cm
from hypothesis import given
from hypothesis import strategies as st

PI_OS = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes"
    " rootwait quiet splash\n"
)


def test_parse_keeps_tokens_in_order():
    assert cm.parse_cmdline(PI_OS)[:3] == ["console=serial0,115200", "console=tty1", "root=PARTUUID=4e639091-02"]


def test_quoted_value_is_one_token():
    tokens = cm.parse_cmdline('root=/dev/sda2 dyndbg="file uas.c +p" rootwait\n')
    assert tokens == ["root=/dev/sda2", 'dyndbg="file uas.c +p"', "rootwait"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "missing"),
        ("", "empty"),
        ("   \n\n", "empty"),
        ("\nroot=/dev/sda2 rootwait\n", "first line is empty"),
        ("root=/dev/sda2\nrootwait\n", "2 non-empty lines"),
        ('root=/dev/sda2 dyndbg="x\n', "unbalanced double quote"),
        ("console=tty1 rootwait\n", "exactly one root= token, found 0"),
        ("root=/dev/sda2 root=/dev/sdb2\n", "found 2"),
        ("root=\n", "root= has no value"),
        ("root=/dev/sda2 usb-storage.quirks=152d:0578:u usb-storage.quirks=174c:55aa:u\n", "Merge them"),
        ("root=/dev/sda2 usb-storage.quirks=152d-0578\n", "not VID:PID:FLAGS"),
        ("root=/dev/sda2\x00\n", "NUL"),
        ("root=/dev/sda2 \x07\n", "control character"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(text, fragment):
    with pytest.raises(cm.CmdlineError) as info:
        cm.parse_cmdline(text, "/boot/firmware/cmdline.txt")
    assert fragment in str(info.value)
    assert "/boot/firmware/cmdline.txt" in str(info.value)


def test_existing_key_is_replaced_in_place_and_duplicates_dropped():
    tokens = ["a=1", "root=/dev/sda2", "usb-storage.quirks=aaaa:bbbb:u", "b", "usb-storage.quirks=cccc:dddd:u"]
    out = cm.edit_tokens(tokens, present={"usb-storage.quirks": "152d:0578:u"})
    assert out == ["a=1", "root=/dev/sda2", "usb-storage.quirks=152d:0578:u", "b"]


def test_missing_key_is_appended_and_flags_are_bare():
    out = cm.edit_tokens(["root=/dev/sda2", "quiet"], present={"rootwait": None, "rootdelay": "5"})
    assert out == ["root=/dev/sda2", "quiet", "rootwait", "rootdelay=5"]


def test_absent_removes_every_occurrence_and_nothing_else():
    out = cm.edit_tokens(["root=/dev/sda2", "rootdelay=5", "quiet", "rootdelay=9"], absent=["rootdelay"])
    assert out == ["root=/dev/sda2", "quiet"]


def test_key_both_present_and_absent_is_an_error():
    with pytest.raises(cm.CmdlineError):
        cm.edit_tokens(["root=/dev/sda2"], present={"quiet": None}, absent=["quiet"])


def test_similar_keys_are_not_touched():
    out = cm.edit_tokens(["root=/dev/sda2", "rootwaitx", "rootfstype=ext4"], present={"rootwait": None})
    assert out == ["root=/dev/sda2", "rootwaitx", "rootfstype=ext4", "rootwait"]


def test_plan_edit_unchanged_keeps_the_text_byte_for_byte():
    text = "console=tty1   root=/dev/sda2\trootwait\n"
    changed, new_text, before, after = cm.plan_edit(text, present={"rootwait": None})
    assert changed is False
    assert new_text == text
    assert before == after


def test_plan_edit_is_idempotent():
    changed, first, _unused, _unused = cm.plan_edit(
        PI_OS, present={"rootwait": None, "usb-storage.quirks": "152d:0578:u"})
    assert changed
    assert first.count("usb-storage.quirks=") == 1
    assert first.endswith("usb-storage.quirks=152d:0578:u\n")
    again, second, _unused, _unused = cm.plan_edit(
        first, present={"rootwait": None, "usb-storage.quirks": "152d:0578:u"})
    assert again is False
    assert second == first


def test_edit_that_would_remove_root_is_refused():
    with pytest.raises(cm.CmdlineError, match="after edit"):
        cm.plan_edit(PI_OS, absent=["root"])


def test_merge_quirk_keeps_other_bridges_and_adds_flag_once():
    assert cm.merge_quirk(None, "152d:0578") == "152d:0578:u"
    assert cm.merge_quirk("174c:55aa:u", "152d:0578") == "174c:55aa:u,152d:0578:u"
    assert cm.merge_quirk("152d:0578:u", "152d:0578") == "152d:0578:u"
    assert cm.merge_quirk("152d:0578:f", "152d:0578") == "152d:0578:fu"


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8)
_token = st.one_of(_word, st.builds(lambda k, v: k + "=" + v, _word, _word))


@given(others=st.lists(_token, max_size=12), keys=st.dictionaries(_word, st.one_of(st.none(), _word), max_size=4))
def test_edit_is_idempotent_and_keeps_unmanaged_tokens(others, keys):
    keys.pop("root", None)
    tokens = [t for t in others if cm.token_key(t) != "root"] + ["root=/dev/sda2"]
    once = cm.edit_tokens(tokens, present=keys)
    assert cm.edit_tokens(once, present=keys) == once
    unmanaged = [t for t in tokens if cm.token_key(t) not in keys]
    assert [t for t in once if cm.token_key(t) not in keys] == unmanaged
    for key in keys:
        assert sum(1 for t in once if cm.token_key(t) == key) == 1
