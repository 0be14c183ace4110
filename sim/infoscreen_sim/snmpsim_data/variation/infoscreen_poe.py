"""snmpsim variation module: a PoE switch whose ports behave like RFC 3621 PSE ports.

snmpsim loads this file with exec() and injects `args` (the text after
`--variation-module-options=infoscreen_poe:`), here the simulated switch's state directory.
Port state lives in `<state dir>/state.json` (shared with sim/infoscreen_sim/switch.py, which
reads it and may change port settings); every change of AdminEnable is appended to
`<state dir>/events.jsonl` so the launcher can tell the simulated fleet about power changes.

Records in the data file name the column they stand for as their value:
`admin` (pethPsePortAdminEnable), `detect` (pethPsePortDetectionStatus), `cisco`
(cpeExtPsePortEnable). DetectionStatus follows AdminEnable: disabled(1) while off,
searching(2) for `power_up_delay_s` after power-on (or forever without a powered device),
then deliveringPower(3). The state survives a restart, like AdminEnable on a real switch.
Fault `detection_stuck` (set by SimSwitch.set_port): DetectionStatus stays deliveringPower(3).
"""

import fcntl
import json
import os
import time

from pyasn1.type import univ
from pysnmp.proto import rfc1902
from pysnmp.smi import error

ADMIN_TRUE, ADMIN_FALSE = 1, 2
CISCO_AUTO, CISCO_DISABLE = 1, 4
DETECT_DISABLED, DETECT_SEARCHING, DETECT_DELIVERING = 1, 2, 3

args = globals().get("args", "")  # injected by snmpsim


def _paths():
    # moduleContext is a global snmpsim injects into variation modules (ruff and pylint cannot see it).
    state_dir = moduleContext["state_dir"]  # noqa: F821  # pylint: disable=undefined-variable
    return (
        os.path.join(state_dir, "state.json"),
        os.path.join(state_dir, "state.lock"),
        os.path.join(state_dir, "events.jsonl"),
    )


def init(**context):
    state_dir = (context.get("options") or "").strip()
    if not state_dir or not os.path.isdir(state_dir):
        raise RuntimeError("infoscreen_poe: pass the state directory as variation module options")
    moduleContext["state_dir"] = state_dir  # noqa: F821  # pylint: disable=undefined-variable


def shutdown(**context):
    pass


def _locked(fn):
    state_path, lock_path, events_path = _paths()
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(state_path) as fh:
            state = json.load(fh)
        changed, result, event = fn(state)
        if changed:
            tmp = state_path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(state, fh, indent=1, sort_keys=True)
            os.replace(tmp, state_path)
        if event:
            with open(events_path, "a") as fh:
                fh.write(json.dumps(event, sort_keys=True) + "\n")
        return result


def _detection(state, port):
    if port.get("detection_stuck"):  # fault: the status never changes, whatever AdminEnable says
        return DETECT_DELIVERING
    if port["admin"] != ADMIN_TRUE:
        return DETECT_DISABLED
    if not port.get("pd", True):
        return DETECT_SEARCHING
    if time.time() - port.get("enabled_at", 0.0) < state.get("power_up_delay_s", 0.0):
        return DETECT_SEARCHING
    return DETECT_DELIVERING


def _value(column, state, port):
    if column == "detect":
        return rfc1902.Integer32(_detection(state, port))
    if port.get("value_type") == "octets":
        # a switch whose object does not have the type the profile expects
        return rfc1902.OctetString("true" if port["admin"] == ADMIN_TRUE else "false")
    if column == "cisco":
        return rfc1902.Integer32(port.get("cisco", CISCO_AUTO if port["admin"] == ADMIN_TRUE else CISCO_DISABLE))
    return rfc1902.Integer32(port["admin"])


def _write(column, port, key, new, where):
    oid, idx = where
    if column == "detect" or not port.get("writable", True):
        raise error.NotWritableError(name=oid, idx=idx)
    if port.get("value_type") == "octets" or not isinstance(new, univ.Integer):
        raise error.WrongTypeError(name=oid, idx=idx)
    new = int(new)
    if column == "cisco":
        if new not in (1, 2, 3, 4):
            raise error.WrongValueError(name=oid, idx=idx)
        port["cisco"] = new
        admin = ADMIN_FALSE if new == CISCO_DISABLE else ADMIN_TRUE
    else:
        if new not in (ADMIN_TRUE, ADMIN_FALSE):
            raise error.WrongValueError(name=oid, idx=idx)
        admin = new
        port.pop("cisco", None)
    old = port["admin"]
    port["admin"] = admin
    if admin == old:
        return None
    now = time.time()
    if admin == ADMIN_TRUE:
        port["enabled_at"] = now
        return {"event": "power_on", "port": key, "at": now, "off_for_s": now - port.get("disabled_at", now)}
    port["disabled_at"] = now
    return {"event": "power_off", "port": key, "at": now}


def variate(oid, tag, value, **context):
    if not context["nextFlag"] and not context["exactMatch"]:
        return context["origOid"], tag, context["errorStatus"]
    column = value.strip()
    key = f"{oid[-2]}.{oid[-1]}"
    idx = max(0, context["varsTotal"] - context["varsRemaining"] - 1)

    def operate(state):
        port = state["ports"].get(key)
        if port is None or port.get("absent"):
            raise error.NoSuchInstanceError(name=oid, idx=idx)
        event = None
        if context["setFlag"]:
            event = _write(column, port, key, context["origValue"], (oid, idx))
        return bool(context["setFlag"]), _value(column, state, port), event

    return oid, tag, _locked(operate)
