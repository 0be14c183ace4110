"""The $7$ hashes of the broker role: format, compatibility with mosquitto_passwd, idempotence."""

import base64
import hashlib
import shutil
import subprocess

import pytest
from ansible_collections.infoscreen.fleet.plugins.filter.mosquitto import FilterModule
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import mosquitto_auth as auth

FILTERS = FilterModule().filters()


def _decode(hashed):
    empty, kind, iterations, salt, digest = hashed.split("$")
    return empty, kind, int(iterations), base64.b64decode(salt), base64.b64decode(digest)


def test_hash_matches_pbkdf2_sha512_computed_with_hashlib():
    salt = bytes(range(12))
    hashed = auth.hash_password("s3cret", salt=salt)
    empty, kind, iterations, got_salt, digest = _decode(hashed)
    assert (empty, kind, iterations, got_salt) == ("", "7", 101, salt)
    assert digest == hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)
    assert len(digest) == 64


def test_fresh_hashes_use_random_salts():
    first, second = auth.hash_password("same"), auth.hash_password("same")
    assert first != second
    assert auth.verify_password(first, "same") and auth.verify_password(second, "same")


def test_verify_rejects_wrong_password_and_garbage():
    hashed = auth.hash_password("right")
    assert not auth.verify_password(hashed, "wrong")
    assert not auth.verify_password("$7$101$not-base64$!!", "right")
    assert not auth.verify_password("plaintext", "plaintext")


@pytest.fixture
def mosquitto_passwd_file(tmp_path):
    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd is missing: scripts/bootstrap.sh installs the mosquitto package"
    path = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(path), "alice", "wonderland"], check=True)
    subprocess.run([tool, "-b", str(path), "bob", "builder"], check=True)
    return path.read_text()


def test_lines_written_by_real_mosquitto_passwd_verify(mosquitto_passwd_file):
    entries = auth.parse_password_file(mosquitto_passwd_file)
    assert set(entries) == {"alice", "bob"}
    assert auth.verify_password(entries["alice"], "wonderland")
    assert auth.verify_password(entries["bob"], "builder")
    assert not auth.verify_password(entries["alice"], "builder")
    # Our own hashes have exactly the shape mosquitto_passwd writes.
    theirs, ours = _decode(entries["alice"]), _decode(auth.hash_password("x"))
    assert [theirs[1], theirs[2], len(theirs[3]), len(theirs[4])] == [ours[1], ours[2], len(ours[3]), len(ours[4])]


def test_existing_lines_are_kept_when_the_password_did_not_change(mosquitto_passwd_file):
    accounts = [{"username": "alice", "password": "wonderland"}, {"username": "bob", "password": "builder"}]
    lines = FILTERS["mosquitto_passwd_lines"](accounts, mosquitto_passwd_file)
    assert lines == mosquitto_passwd_file.strip().splitlines()
    # Rendering again from our own output is a fixed point.
    assert FILTERS["mosquitto_passwd_lines"](accounts, "\n".join(lines)) == lines


def test_changed_password_and_new_account_get_new_lines_others_stay(mosquitto_passwd_file):
    before = auth.parse_password_file(mosquitto_passwd_file)
    accounts = [
        {"username": "alice", "password": "looking-glass"},
        {"username": "bob", "password": "builder"},
        {"username": "carol", "password": "christmas"},
    ]
    after = auth.parse_password_file("\n".join(FILTERS["mosquitto_passwd_lines"](accounts, mosquitto_passwd_file)))
    assert list(after) == ["alice", "bob", "carol"]
    assert after["bob"] == before["bob"]
    assert after["alice"] != before["alice"] and auth.verify_password(after["alice"], "looking-glass")
    assert auth.verify_password(after["carol"], "christmas")


def test_removed_accounts_disappear(mosquitto_passwd_file):
    lines = FILTERS["mosquitto_passwd_lines"]([{"username": "bob", "password": "builder"}], mosquitto_passwd_file)
    assert [line.split(":")[0] for line in lines] == ["bob"]


def test_passwd_lines_filter_refuses_malformed_accounts():
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="username, password"):
        FILTERS["mosquitto_passwd_lines"]([{"user": "x"}], "")
