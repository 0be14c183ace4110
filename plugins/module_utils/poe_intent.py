# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent "port may be dark" markers on the controller, one per (switch, group, port).

The switch part of the key is its resolved address (resolve_switch), so runs that spell one
switch differently (``localhost:P`` and ``127.0.0.1:P``) share the lock and heal each other.

RFC 3621 AdminEnable survives switch reboots, so a tool killed between "off" and "on"
(SIGKILL, OOM, power loss of the controller) leaves the client dark for good. Before the
first write that can switch a port off we write an intent marker (fsync'd); it is removed
only after the port reads back on and delivering power. Each port also has a lock file held
with flock() while a run works on it: when a run gets the lock and still finds a marker, the
run that wrote it is gone (the kernel released its lock), so the marker is stale and the port
must be re-enabled. A live concurrent run holds the lock, so it is never mistaken for a
dead one, whatever its pid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import re
import socket
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_snmp import PoeError


class PortBusy(PoeError):
    code = "port_busy"


def default_intent_dir():
    if os.environ.get("INFOSCREEN_POE_INTENT_DIR"):
        return os.environ["INFOSCREEN_POE_INTENT_DIR"]
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state_home, "infoscreen-fleet", "poe-intent")


def resolve_switch(switch):
    """The switch's address as the SNMP transport reaches it (pysnmp's UdpTransportTarget resolves
    IPv4), so every spelling of one switch - ``localhost``, ``127.0.0.1``, ``SW1.example`` - gets
    the same marker; a name that does not resolve is kept, lower-cased."""
    name = str(switch).strip().lower()
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return name
    return infos[0][4][0] if infos else name


def port_key(switch, snmp_port, group, port):
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(switch))
    return "%s_%d_%d.%d" % (safe, int(snmp_port), int(group), int(port))


class PortIntent:
    """Lock + marker for one port. Use as a context manager around any work on the port."""

    def __init__(self, directory, switch, snmp_port, group, port):
        self.directory = directory
        self.address = resolve_switch(switch)
        self.key = port_key(self.address, snmp_port, group, port)
        self.lock_path = os.path.join(directory, self.key + ".lock")
        self.marker_path = os.path.join(directory, self.key + ".intent")
        # Markers written before keys were resolved used the switch as spelled: still honoured.
        spelled = os.path.join(directory, port_key(switch, snmp_port, group, port) + ".intent")
        self._other_markers = [spelled] if spelled != self.marker_path else []
        self.where = "PoE port %d.%d on switch %s" % (int(group), int(port), switch)
        self._fd = None

    def __enter__(self):
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise PoeError("cannot create the PoE intent directory %s (option intent_dir): %s"
                           % (self.directory, exc)) from exc
        self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise PortBusy("%s is being switched by another run on this controller (lock %s held); "
                               "wait for it to finish." % (self.where, self.lock_path)) from exc
            raise
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None

    def read(self):
        """The marker left by an earlier run (stale, since we hold the lock), or None."""
        for path in [self.marker_path] + self._other_markers:
            try:
                with open(path) as fh:
                    return json.load(fh)
            except FileNotFoundError:
                continue
            except ValueError:
                # a marker cut short by a crash while writing still means "maybe dark"
                return {"corrupt": True}
        return None

    def write(self, operation, **details):
        record = dict(details, operation=operation, switch_address=self.address, pid=os.getpid(),
                      controller=socket.gethostname(), written_at=time.time())
        tmp = self.marker_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.marker_path)
        _fsync_dir(self.directory)
        return record

    def clear(self):
        removed = False
        for path in [self.marker_path] + self._other_markers:
            try:
                os.unlink(path)
                removed = True
            except FileNotFoundError:
                pass
        if removed:
            _fsync_dir(self.directory)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
