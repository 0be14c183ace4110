"""The agent's INI configuration: load it, check it, and say exactly what is wrong."""

import configparser
import dataclasses
import os
import re
import shlex

# How far a controller's clock may run ahead of or behind this client's before expiry checks
# bite. Five minutes of future tolerance covers a Pi whose RTC-less clock is not synced yet.
DEFAULT_CLOCK_SKEW_S = 30
DEFAULT_FUTURE_TOLERANCE_S = 300
# Dedupe entries live 7 days: far beyond any command's validity (minutes), so a redelivered
# or replayed command_id is always recognised, and the store stays small.
DEFAULT_DEDUPE_RETENTION_S = 7 * 24 * 3600
DEFAULT_DEDUPE_MAX_ENTRIES = 2000
# The local hold (hold.py): /run is emptied at every boot, so a hold never outlives the app
# run that set it; a reboot-class command waits for it at most this long (and never past
# the command's expiry).
DEFAULT_HOLD_PATH = "/run/infoscreen-agent/hold.json"
DEFAULT_HOLD_MAX_WAIT_S = 300


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file, section and key."""


@dataclasses.dataclass
class AgentConfig:
    path: str
    host: str
    port: int
    username: str
    password: str
    tls_ca: str
    keepalive_s: int
    client_uuid: str
    state_dir: str
    release: str
    heartbeat_interval_s: float
    health_interval_s: float
    helper_command: list
    boot_id_path: str
    app_unit: str
    reboot_deadline_s: float
    shutdown_deadline_s: float
    restart_deadline_s: float
    helper_timeout_s: float
    clock_skew_s: float
    future_tolerance_s: float
    dedupe_retention_s: float
    dedupe_max_entries: int
    lockout_max: int
    lockout_window_s: float
    reconnect_min_s: int
    reconnect_max_s: int
    log_level: str
    hold_path: str = DEFAULT_HOLD_PATH
    hold_max_wait_s: float = float(DEFAULT_HOLD_MAX_WAIT_S)
    # "[section] key" of every setting in the file(s) the agent does not know; it ignores
    # them and the CLI logs them, so a stray or outdated line is seen, never silently used.
    ignored: list = dataclasses.field(default_factory=list)


_OPTIONAL = {
    # key: (section, default, type)
    "port": ("mqtt", "1883", int),
    "tls_ca": ("mqtt", "", str),
    "keepalive_s": ("mqtt", "30", int),
    "reconnect_min_s": ("mqtt", "1", int),
    "reconnect_max_s": ("mqtt", "60", int),
    "release": ("agent", "", str),
    "heartbeat_interval_s": ("agent", "30", float),
    "health_interval_s": ("agent", "60", float),
    "helper_command": ("agent", "sudo -n /usr/local/libexec/infoscreen-agent/infoscreen-helper", str),
    "boot_id_path": ("agent", "/proc/sys/kernel/random/boot_id", str),
    "app_unit": ("agent", "infoscreen-app.service", str),
    "reboot_deadline_s": ("agent", "600", float),
    "shutdown_deadline_s": ("agent", "300", float),
    "restart_deadline_s": ("agent", "120", float),
    "helper_timeout_s": ("agent", "60", float),
    "clock_skew_s": ("agent", str(DEFAULT_CLOCK_SKEW_S), float),
    "future_tolerance_s": ("agent", str(DEFAULT_FUTURE_TOLERANCE_S), float),
    "dedupe_retention_s": ("agent", str(DEFAULT_DEDUPE_RETENTION_S), float),
    "dedupe_max_entries": ("agent", str(DEFAULT_DEDUPE_MAX_ENTRIES), int),
    "lockout_max": ("agent", "3", int),
    "lockout_window_s": ("agent", "900", float),
    "log_level": ("agent", "INFO", str),
    "hold_path": ("agent", DEFAULT_HOLD_PATH, str),
    "hold_max_wait_s": ("agent", str(DEFAULT_HOLD_MAX_WAIT_S), float),
}
_REQUIRED = {"host": "mqtt", "username": "mqtt", "password": "mqtt", "client_uuid": "agent", "state_dir": "agent"}


def _get(parser, path, section, key, *, default, kind):
    raw = parser.get(section, key, fallback=default)
    try:
        if kind is bool:
            return parser.getboolean(section, key, fallback=default.lower() in ("1", "true", "yes", "on"))
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{path}: [{section}] {key} = {raw!r} is not a valid {kind.__name__}; "
                          "fix the value") from None


def load(path):
    """Read and check the INI file(s) at ``path``; raise ConfigError naming what to fix.

    ``path`` is one file or a list of files read in order, a later file overriding single
    keys of an earlier one (a site-wide base plus a per-deployment file).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise ConfigError("no agent config given; pass --config FILE")
    # Inline ';' comments are allowed, as in the documented example.
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    for one in paths:
        try:
            with open(one, encoding="utf-8") as handle:
                parser.read_file(handle)
        except OSError as exc:
            raise ConfigError(f"cannot read agent config {one}: {exc.strerror}; "
                              "pass --config with a readable file") from None
        except configparser.Error as exc:
            raise ConfigError(f"agent config {one} is not valid INI: {exc}") from None
    where = str(paths[0]) if len(paths) == 1 else " + ".join(str(p) for p in paths)
    values = {}
    for key, section in _REQUIRED.items():
        value = parser.get(section, key, fallback="").strip()
        if not value:
            raise ConfigError(f"{where}: [{section}] {key} is missing or empty; set it (see docs/agent.md)")
        values[key] = value
    for key, (section, default, kind) in _OPTIONAL.items():
        values[key] = _get(parser, where, section, key, default=default, kind=kind)
    config = _check(where, values)
    config.ignored = _unknown(parser)
    return config


def _unknown(parser):
    known = {(section, key) for key, (section, _d, _k) in _OPTIONAL.items()}
    known |= {(section, key) for key, section in _REQUIRED.items()}
    return [f"[{section}] {key}" for section in parser.sections() for key in parser[section]
            if (section, key) not in known]


_UNIT_RE = re.compile(r"^[A-Za-z0-9@._:-]+\.service$")
MQTT_STRING_MAX_BYTES = 65535  # MQTT 3.1.1, 1.5.3: UTF-8 strings carry a 16-bit length


def _check_strings(path, v):
    """Every configured string within what the contract and MQTT allow (issue 13, item 7)."""
    from .contract.limits import release_label_problem, text_problem  # noqa: PLC0415

    problem = release_label_problem(v["release"])
    if problem:
        raise ConfigError(f"{path}: [agent] release: {problem}; shorten the label (pi_agent_release_label)")
    for section, key, max_chars in (("mqtt", "host", 253), ("mqtt", "username", None), ("agent", "app_unit", 256),
                                    ("agent", "state_dir", 4096), ("agent", "boot_id_path", 4096),
                                    ("mqtt", "tls_ca", 4096)):
        problem = text_problem(key, v[key], max_chars)
        if problem:
            raise ConfigError(f"{path}: [{section}] {problem}; fix the value")
    for section, key in (("mqtt", "username"), ("mqtt", "password")):
        if len(v[key].encode("utf-8")) > MQTT_STRING_MAX_BYTES:
            raise ConfigError(f"{path}: [{section}] {key} is longer than MQTT allows ({MQTT_STRING_MAX_BYTES} bytes)")
    if not _UNIT_RE.match(v["app_unit"]):
        raise ConfigError(f"{path}: [agent] app_unit {v['app_unit'][:80]!r} is not a .service unit name")
    for key in ("state_dir", "boot_id_path"):
        if not os.path.isabs(v[key]):
            raise ConfigError(f"{path}: [agent] {key} {v[key][:80]!r} must be an absolute path")
    problem = text_problem("hold_path", v["hold_path"], 4096)
    if problem:
        raise ConfigError(f"{path}: [agent] {problem}; fix the value")
    if v["hold_path"] and not os.path.isabs(v["hold_path"]):
        raise ConfigError(f"{path}: [agent] hold_path {v['hold_path'][:80]!r} must be an absolute path "
                          "(or empty: no local hold)")


def _check(path, v):
    from .contract.topics import _UUID_RE  # noqa: PLC0415 - one UUID rule for the whole contract

    if not _UUID_RE.match(v["client_uuid"]):
        raise ConfigError(f"{path}: [agent] client_uuid {v['client_uuid']!r} is not a UUID (8-4-4-4-12 hex)")
    _check_strings(path, v)
    helper = shlex.split(v["helper_command"])
    if not helper:
        raise ConfigError(f"{path}: [agent] helper_command is empty; set the helper path (sudo -n ...)")
    if not 1 <= v["port"] <= 65535:
        raise ConfigError(f"{path}: [mqtt] port {v['port']} is out of range 1-65535")
    for key in ("heartbeat_interval_s", "health_interval_s", "reboot_deadline_s", "shutdown_deadline_s",
                "restart_deadline_s", "helper_timeout_s", "dedupe_retention_s"):
        if v[key] <= 0:
            raise ConfigError(f"{path}: [agent] {key} must be positive, got {v[key]}")
    if not 0 <= v["hold_max_wait_s"] <= 86400:
        raise ConfigError(f"{path}: [agent] hold_max_wait_s must be between 0 (a hold refuses at once) and 86400, "
                          f"got {v['hold_max_wait_s']}")
    if v["reconnect_min_s"] < 1 or v["reconnect_max_s"] < v["reconnect_min_s"]:
        raise ConfigError(f"{path}: [mqtt] need 1 <= reconnect_min_s <= reconnect_max_s")
    return AgentConfig(
        path=path, host=v["host"], port=v["port"], username=v["username"], password=v["password"],
        tls_ca=v["tls_ca"], keepalive_s=v["keepalive_s"], client_uuid=v["client_uuid"].lower(),
        state_dir=v["state_dir"], release=v["release"], heartbeat_interval_s=v["heartbeat_interval_s"],
        health_interval_s=v["health_interval_s"], helper_command=helper,
        boot_id_path=v["boot_id_path"], app_unit=v["app_unit"], reboot_deadline_s=v["reboot_deadline_s"],
        shutdown_deadline_s=v["shutdown_deadline_s"], restart_deadline_s=v["restart_deadline_s"],
        helper_timeout_s=v["helper_timeout_s"], clock_skew_s=v["clock_skew_s"],
        future_tolerance_s=v["future_tolerance_s"], dedupe_retention_s=v["dedupe_retention_s"],
        dedupe_max_entries=max(10, v["dedupe_max_entries"]), lockout_max=v["lockout_max"],
        lockout_window_s=v["lockout_window_s"], reconnect_min_s=v["reconnect_min_s"],
        reconnect_max_s=v["reconnect_max_s"], log_level=v["log_level"].upper(),
        hold_path=v["hold_path"], hold_max_wait_s=v["hold_max_wait_s"],
    )
