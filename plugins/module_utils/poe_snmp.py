# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SNMP access for the PoE tools: credentials, a small synchronous GET/SET session on top of
the pysnmp 7 asyncio API, and SNMP failures turned into errors an operator can act on.

The session is synchronous on purpose: the PoE cycle logic runs plain Python between SNMP
operations (sleep, signal handling, finally blocks), so every operation is one short
`loop.run_until_complete` and an interrupt can never leave a half-finished coroutine behind
that the re-enable path depends on.

Two rules keep a request from hanging (drill finding 3, docs/drills.md): a signal handler must
not raise while a request runs (`request_in_flight()` tells it to defer; an exception raised
inside pysnmp's callbacks or timer task is swallowed by asyncio and can leave the request's
future unresolved forever), and every request runs under its own deadline on the loop's
monotonic clock, independent of pysnmp's wall-clock timer task.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio

try:
    from pyasn1.type import univ
    from pysnmp.hlapi.v3arch import asyncio as hlapi
    from pysnmp.proto import errind, rfc1902, rfc1905
    from pysnmp.smi import builder, view

    HAS_PYSNMP = True
    PYSNMP_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_PYSNMP = False
    PYSNMP_IMPORT_ERROR = exc

# seconds on top of timeout x tries before our own deadline cancels a request pysnmp did not end
REQUEST_DEADLINE_SLACK = 2.0

_in_flight = [0]


def request_in_flight():
    """True while an SnmpSession request runs its event loop (signal handlers must not raise then)."""
    return _in_flight[0] > 0


AUTH_PROTOCOLS = ("md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("des", "3des", "aes", "aes192", "aes256")


class PoeError(Exception):
    """Base class; `code` is machine-readable, str(error) is for the operator."""

    code = "poe_error"


class SnmpTimeout(PoeError):
    code = "snmp_timeout"


class SnmpAuthError(PoeError):
    code = "snmp_auth"


class SnmpWriteRefused(PoeError):
    code = "snmp_not_writable"


class SnmpWrongType(PoeError):
    code = "snmp_wrong_type"


class SnmpNoSuchPort(PoeError):
    code = "snmp_no_such_instance"


class SnmpRequestError(PoeError):
    code = "snmp_error"


class SnmpCredentials:
    """v2c community or v3 authPriv user. Validated here so bad input fails before any packet."""

    def __init__(self, version="2c", *, community=None, user=None, auth_key=None, auth_protocol="sha",
                 priv_key=None, priv_protocol="aes", context=""):
        self.version = str(version)
        self.community = community
        self.user = user
        self.auth_key = auth_key
        self.auth_protocol = (auth_protocol or "sha").lower()
        self.priv_key = priv_key
        self.priv_protocol = (priv_protocol or "aes").lower()
        self.context = context or ""
        self.validate()

    def validate(self):
        if self.version == "2c":
            if not self.community:
                raise ValueError("snmp_community is required with snmp_version 2c (or set INFOSCREEN_SNMP_COMMUNITY)")
            return
        if self.version != "3":
            raise ValueError("snmp_version must be '2c' or '3', got %r" % self.version)
        missing = [name for name, value in (("snmp_v3_user", self.user), ("snmp_v3_auth_key", self.auth_key),
                                            ("snmp_v3_priv_key", self.priv_key)) if not value]
        if missing:
            raise ValueError("snmp_version 3 uses authPriv: set %s" % ", ".join(missing))
        for name, key in (("snmp_v3_auth_key", self.auth_key), ("snmp_v3_priv_key", self.priv_key)):
            if len(key) < 8:
                raise ValueError("%s must be at least 8 characters (RFC 3414)" % name)
        if self.auth_protocol not in AUTH_PROTOCOLS:
            raise ValueError("snmp_v3_auth_protocol must be one of %s" % ", ".join(AUTH_PROTOCOLS))
        if self.priv_protocol not in PRIV_PROTOCOLS:
            raise ValueError("snmp_v3_priv_protocol must be one of %s" % ", ".join(PRIV_PROTOCOLS))

    def describe(self):
        """Safe to log: never includes a community or key."""
        if self.version == "2c":
            return "SNMPv2c community"
        return "SNMPv3 user %r (authPriv %s/%s)" % (self.user, self.auth_protocol, self.priv_protocol)

    def auth_data(self):
        if self.version == "2c":
            return hlapi.CommunityData(self.community, mpModel=1)  # noqa: S508 - v2c is what many PoE switches offer
        auth = {
            "md5": hlapi.usmHMACMD5AuthProtocol, "sha": hlapi.usmHMACSHAAuthProtocol,
            "sha224": hlapi.usmHMAC128SHA224AuthProtocol, "sha256": hlapi.usmHMAC192SHA256AuthProtocol,
            "sha384": hlapi.usmHMAC256SHA384AuthProtocol, "sha512": hlapi.usmHMAC384SHA512AuthProtocol,
        }[self.auth_protocol]
        priv = {
            "des": hlapi.usmDESPrivProtocol, "3des": hlapi.usm3DESEDEPrivProtocol,
            "aes": hlapi.usmAesCfb128Protocol, "aes192": hlapi.usmAesCfb192Protocol,
            "aes256": hlapi.usmAesCfb256Protocol,
        }[self.priv_protocol]
        return hlapi.UsmUserData(self.user, self.auth_key, self.priv_key, authProtocol=auth, privProtocol=priv)


AUTH_INDICATIONS = ("UnknownUserName", "WrongDigest", "DecryptionError", "UnknownSecurityName",
                    "UnsupportedSecurityLevel", "AuthenticationError", "AuthenticationFailure",
                    "UnknownCommunityName", "NotInTimeWindow", "UnknownEngineID")
REFUSED_STATUSES = ("notWritable", "readOnly", "noAccess", "authorizationError")
NO_SUCH_STATUSES = ("noSuchName", "noCreation", "inconsistentName")


def split_switch_address(switch, default_port):
    """'host:port' (exactly one colon, numeric port) -> (host, port); anything else keeps default_port."""
    host, sep, port = str(switch).rpartition(":")
    if sep and host and ":" not in host and port.isdigit():
        return host, int(port)
    return str(switch), int(default_port)


class SnmpSession:
    """One switch, one credential set; `get`/`set` block until the switch answered or failed."""

    def __init__(self, host, credentials, *, port=161, timeout=2.0, retries=1, label=None):
        self.host = host
        self.port = int(port)
        self.credentials = credentials
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.label = label or "%s:%d" % (host, self.port)
        self._loop = asyncio.new_event_loop()
        self._engine = hlapi.SnmpEngine()
        self._engine.cache["mibViewController"] = _numeric_mib_view()
        self._target = None

    def close(self):
        try:
            self._engine.close_dispatcher()
            # let the dispatcher's cancelled timer task finish inside its own loop
            self._loop.run_until_complete(asyncio.sleep(0))
        except Exception:  # noqa: S110 - best-effort cleanup of a socket
            pass
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def request_deadline(self):
        return self.timeout * (self.retries + 1) + REQUEST_DEADLINE_SLACK

    def _run(self, coro):
        _in_flight[0] += 1
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, self.request_deadline))
        except asyncio.TimeoutError as exc:
            raise SnmpTimeout(
                "SNMP request to switch %s did not end within %.1f s (%s x %.1f s + %.1f s); the request was "
                "cancelled. Check that the switch is reachable." % (
                    self.label, self.request_deadline, self.retries + 1, self.timeout,
                    REQUEST_DEADLINE_SLACK)) from exc
        finally:
            _in_flight[0] -= 1

    async def _transport(self):
        if self._target is None:
            self._target = await hlapi.UdpTransportTarget.create(
                (self.host, self.port), timeout=self.timeout, retries=self.retries)
        return self._target

    async def _get(self, oids):
        target = await self._transport()
        return await hlapi.get_cmd(self._engine, self.credentials.auth_data(), target,
                                   hlapi.ContextData(contextName=self.credentials.context),
                                   *[hlapi.ObjectType(hlapi.ObjectIdentity(oid)) for oid in oids], lookupMib=False)

    async def _set(self, pairs):
        target = await self._transport()
        return await hlapi.set_cmd(self._engine, self.credentials.auth_data(), target,
                                   hlapi.ContextData(contextName=self.credentials.context),
                                   *[hlapi.ObjectType(hlapi.ObjectIdentity(oid), value) for oid, value in pairs],
                                   lookupMib=False)

    def get(self, named_oids):
        """named_oids: [(name, oid)]. Returns {name: pyasn1 value}; missing instances raise."""
        try:
            result = self._run(self._get([oid for _name, oid in named_oids]))
        except OSError as exc:  # e.g. the switch name does not resolve
            raise SnmpRequestError("cannot reach switch %s: %s" % (self.label, exc)) from exc
        binds = self._check(result, named_oids, "GET")
        values = {}
        for (name, oid), (_bound_oid, value) in zip(named_oids, binds):
            if _is_missing(value):
                raise SnmpNoSuchPort(
                    "switch %s has no %s (%s): %s. Check the PSE group and port (infoscreen_poe_group / "
                    "infoscreen_poe_port) and the vendor profile." % (self.label, name, oid, _missing_name(value)))
            values[name] = value
        return values

    def set_integer(self, name, oid, value):
        try:
            result = self._run(self._set([(oid, rfc1902.Integer32(int(value)))]))
        except OSError as exc:
            raise SnmpRequestError("cannot reach switch %s: %s" % (self.label, exc)) from exc
        binds = self._check(result, [(name, oid)], "SET")
        if binds and _is_missing(binds[0][1]):
            raise SnmpNoSuchPort("switch %s has no %s (%s) to write: %s" % (
                self.label, name, oid, _missing_name(binds[0][1])))

    def _check(self, result, named_oids, op):
        error_indication, error_status, error_index, binds = result
        if error_indication:
            kind = type(error_indication).__name__
            if isinstance(error_indication, errind.RequestTimedOut):
                tries = self.retries + 1
                raise SnmpTimeout(
                    "no SNMP response from switch %s (%s, %s x %.1f s): either the switch is unreachable "
                    "(wrong address/port, down, firewalled) or the credentials are wrong - an SNMP agent "
                    "silently drops requests with a wrong community (or SNMPv3 context). Check "
                    "infoscreen_poe_switch and the SNMP credentials." % (
                        self.label, self.credentials.describe(), tries, self.timeout))
            if kind in AUTH_INDICATIONS:
                raise SnmpAuthError("switch %s rejected %s: %s. Check the SNMPv3 user, keys and protocols." % (
                    self.label, self.credentials.describe(), error_indication))
            raise SnmpRequestError("SNMP %s to switch %s failed: %s" % (op, self.label, error_indication))
        if error_status:
            status = str(error_status.prettyPrint()) if hasattr(error_status, "prettyPrint") else str(error_status)
            index = int(error_index) - 1 if error_index else 0
            name, oid = named_oids[index] if 0 <= index < len(named_oids) else named_oids[0]
            where = "%s (%s) on switch %s" % (name, oid, self.label)
            if status in REFUSED_STATUSES:
                raise SnmpWriteRefused(
                    "switch refused to write %s: %s. The community/user has no write access (use a read-write "
                    "community or a v3 user with a write view) or the object is read-only on this model "
                    "(check the vendor profile)." % (where, status))
            if status == "wrongType":
                raise SnmpWrongType("switch answered wrongType for %s: the object does not have the type the "
                                    "vendor profile expects; check the vendor profile." % where)
            if status in NO_SUCH_STATUSES:
                raise SnmpNoSuchPort("switch has no %s: %s. Check the PSE group and port." % (where, status))
            raise SnmpRequestError("SNMP %s of %s failed: %s" % (op, where, status))
        return binds


class _NoMibCompiler:
    """We only use numeric OIDs. Without this, pysnmp builds a pysmi MIB compiler (about 1.5 s of
    CPU) on the first request just in case a MIB has to be compiled from source."""

    def compile(self, *names, **_options):
        return dict.fromkeys(names, "missing")


def _numeric_mib_view():
    mib_builder = builder.MibBuilder()
    mib_builder.set_mib_compiler(_NoMibCompiler(), "/nonexistent/infoscreen-no-mib-compiler")
    return view.MibViewController(mib_builder)


def _is_missing(value):
    return isinstance(value, (rfc1905.NoSuchInstance, rfc1905.NoSuchObject, rfc1905.EndOfMibView))


def _missing_name(value):
    return {"NoSuchInstance": "noSuchInstance", "NoSuchObject": "noSuchObject",
            "EndOfMibView": "endOfMibView"}.get(value.__class__.__name__, str(value))


def as_integer(name, oid, value, label):
    """The integer in an INTEGER varbind, or SnmpWrongType naming what the switch sent instead."""
    if not isinstance(value, univ.Integer):
        raise SnmpWrongType(
            "switch %s returned %s %r for %s (%s), expected INTEGER: this object has another meaning on this "
            "switch; check the vendor profile." % (label, value.__class__.__name__, value.prettyPrint(), name, oid))
    return int(value)
