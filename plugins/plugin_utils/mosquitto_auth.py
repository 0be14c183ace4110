# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mosquitto 2.0 password-file lines and the broker's account list, built from inventory.

Hashes use mosquitto's own ``$7$`` format (PBKDF2-HMAC-SHA512, 101 iterations, 12-byte
salt, 64-byte digest, both base64), byte-compatible with ``mosquitto_passwd``.

Idempotence without weakening the salt: mosquitto_passwd draws a random salt, so rendering
the file afresh would change it on every run. Instead, an account whose current line still
verifies against the wanted password keeps that line (and its random salt); only new
accounts and changed passwords get a fresh random salt. No extra secret is needed and no
salt is ever derived from the password.
"""

import base64
import hashlib
import hmac
import os
import re

from ansible_collections.infoscreen.fleet.plugins.module_utils import contract

PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
HASH_PREFIX = "7"
# ':' splits user from hash in the password file; wildcards, '/' and whitespace would
# widen or break ACL lines that name the user.
_BAD_USERNAME_RE = re.compile(r"[:#+/\s]")


def hash_password(password, salt=None, iterations=PBKDF2_ITERATIONS):
    """Return the ``$7$<iterations>$<salt>$<hash>`` string for ``password``."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return "${}${}${}${}".format(
        HASH_PREFIX, iterations, base64.b64encode(salt).decode("ascii"), base64.b64encode(digest).decode("ascii")
    )


def verify_password(hashed, password):
    """True when ``hashed`` (a ``$7$`` or ``$6$`` mosquitto hash) matches ``password``."""
    parts = hashed.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations = int(parts[2])
            salt = base64.b64decode(parts[3], validate=True)
            want = base64.b64decode(parts[4], validate=True)
            got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
        elif len(parts) == 4 and parts[1] == "6":
            salt = base64.b64decode(parts[2], validate=True)
            want = base64.b64decode(parts[3], validate=True)
            got = hashlib.sha512(password.encode("utf-8") + salt).digest()
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def parse_password_file(content):
    """Map username -> hash from a mosquitto password file's text (comments ignored)."""
    entries = {}
    for raw in (content or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, hashed = line.split(":", 1)
        entries[user] = hashed
    return entries


def password_file_lines(accounts, existing_content=""):
    """Return one ``user:hash`` line per account, in the given order.

    ``accounts`` is a list of dicts with ``username`` and ``password``. A line from
    ``existing_content`` is reused when it still verifies, so an unchanged inventory gives
    a byte-identical file.
    """
    current = parse_password_file(existing_content)
    lines = []
    for account in accounts:
        user, password = account["username"], account["password"]
        hashed = current.get(user)
        if hashed is None or not verify_password(hashed, password):
            hashed = hash_password(password)
        lines.append(f"{user}:{hashed}")
    return lines


def _text(value):
    # Vaulted or templated values arrive as str subclasses or objects that render to str.
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def collect_accounts(client_hosts, hostvars, controller_username, controller_password, extra_clients=None):
    """Build the broker's accounts from inventory and report every problem found.

    Returns ``(accounts, problems)``. ``accounts`` starts with the controller, then one per
    client ``{"name", "username", "password", "client_uuid", "controller": bool, "read_topics",
    "write_topics", "readwrite_topics"}`` (the ACL lists, from the contract).
    ``problems`` is a list of messages naming the host and variable (no secrets), empty when
    the inventory is usable.
    """
    problems = []
    clients = []
    for name in client_hosts or []:
        hv = hostvars[name]
        clients.append((name, _text(hv.get("client_uuid")), _text(hv.get("infoscreen_mqtt_password")), "inventory"))
    for index, item in enumerate(extra_clients or []):
        if not isinstance(item, dict):
            problems.append(f"mqtt_broker_clients[{index}] is not a mapping with name, client_uuid and password")
            continue
        name = _text(item.get("name")) or f"mqtt_broker_clients[{index}]"
        clients.append((name, _text(item.get("client_uuid")), _text(item.get("password")), "mqtt_broker_clients"))

    controller_username = _text(controller_username) or ""
    if not controller_username or _BAD_USERNAME_RE.search(controller_username):
        problems.append(
            f"mqtt_broker_controller_username {controller_username!r} is empty or contains ':', '#', '+', '/' "
            "or whitespace; set a plain account name"
        )
    elif contract.is_uuid(controller_username):
        problems.append("mqtt_broker_controller_username must not be a UUID: UUIDs are client account names")
    if not _text(controller_password):
        problems.append("mqtt_broker_controller_password is empty; set it (from a vault) for the controller account")

    seen = {}
    accounts = [
        {
            "name": controller_username,
            "username": controller_username,
            "password": _text(controller_password) or "",
            "client_uuid": None,
            "controller": True,
            # ACL lines come from the contract, never from a copy of its topic names.
            "read_topics": [],
            "write_topics": [],
            "readwrite_topics": [contract.ALL_TOPICS],
        }
    ]
    for name, client_uuid, password, source in clients:
        where = f"host {name}" if source == "inventory" else f"{name} (mqtt_broker_clients)"
        if not client_uuid:
            problems.append(f"{where}: client_uuid is not set; give every client its UUID (lower-case 8-4-4-4-12)")
            continue
        if not contract.is_canonical_uuid(client_uuid):
            hint = " (use lower case)" if contract.is_uuid(client_uuid) else ""
            problems.append(f"{where}: client_uuid {client_uuid!r} is not a lower-case 8-4-4-4-12 UUID{hint}")
            continue
        if client_uuid in seen:
            problems.append(
                f"{where}: client_uuid {client_uuid} is already used by {seen[client_uuid]}; UUIDs must be unique"
            )
            continue
        seen[client_uuid] = where
        if not password:
            var = "infoscreen_mqtt_password" if source == "inventory" else "password"
            problems.append(f"{where}: {var} is not set; give the client its broker password (from a vault)")
            continue
        accounts.append(
            {
                "name": name,
                "username": client_uuid,
                "password": password,
                "client_uuid": client_uuid,
                "controller": False,
                **client_acl(client_uuid),
            }
        )
    return accounts, problems


def client_acl(client_uuid):
    """The topics a client account may read (its commands) and write (its acks and reports)."""
    topics = contract.client_topics(client_uuid)
    writes = [topic for kind in ("ack", "heartbeat", "health", "service_failed", "logs") for topic in topics[kind]]
    return {"read_topics": topics["command"], "write_topics": writes, "readwrite_topics": []}
