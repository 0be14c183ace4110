# -*- coding: utf-8 -*-
"""Persistent "port may be dark" markers on the controller, one per (switch, group, port).

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


def port_key(switch, snmp_port, group, port):
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(switch))
    return "%s_%d_%d.%d" % (safe, int(snmp_port), int(group), int(port))


class PortIntent:
    """Lock + marker for one port. Use as a context manager around any work on the port."""

    def __init__(self, directory, switch, snmp_port, group, port):
        self.directory = directory
        self.key = port_key(switch, snmp_port, group, port)
        self.lock_path = os.path.join(directory, self.key + ".lock")
        self.marker_path = os.path.join(directory, self.key + ".intent")
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
        try:
            with open(self.marker_path) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except ValueError:
            # a marker cut short by a crash while writing still means "maybe dark"
            return {"corrupt": True}

    def write(self, operation, **details):
        record = dict(details, operation=operation, pid=os.getpid(), controller=socket.gethostname(),
                      written_at=time.time())
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
        try:
            os.unlink(self.marker_path)
        except FileNotFoundError:
            return
        _fsync_dir(self.directory)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
