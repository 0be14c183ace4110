# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin infoscreen.fleet.fleet_status: every client at a glance, from one MQTT listen plus the ledger.

Runs on the controller over one MQTT connection for all hosts (use run_once). See the module stub
plugins/modules/fleet_status.py for the documentation.
"""

import json
import os
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.utils.display import Display
from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import ENV_LEDGER, Ledger
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status import console_table, read_status
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.fleet_status_html import render_status_html
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_action import MqttAction, inventory_clients
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import MQTT_ARGUMENT_SPEC, connection_summary
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.recover_health import HealthError

display = Display()

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str"},
    "client_uuid_var": {"type": "str", "default": "client_uuid"},
    "listen_s": {"type": "float", "default": 65.0},
    "max_heartbeat_age_s": {"type": "float", "default": 90.0},
    "connect_timeout_s": {"type": "float", "default": 15.0},
    "lockout_limit": {"type": "int", "default": 3},
    "lockout_window_s": {"type": "float", "default": 900.0},
    "cooldown_s": {"type": "float", "default": 60.0},
    "json_file": {"type": "path"},
    "html_file": {"type": "path"},
    "title": {"type": "str", "default": "infoscreen fleet status"},
    "show_table": {"type": "bool", "default": True},
    "ledger": {"type": "path", "fallback": (env_fallback, [ENV_LEDGER])},
    **MQTT_ARGUMENT_SPEC,
}


def write_private(path, text):
    """Write atomically, mode 0640 (the status names clients, never a secret)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".fleet-status-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ActionModule(MqttAction):
    PLUGIN = "fleet_status"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True  # it only listens and reads the ledger

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._mqtt_args(positive=("listen_s", "max_heartbeat_age_s", "connect_timeout_s", "lockout_window_s"))
        if args["lockout_limit"] < 1 or args["cooldown_s"] < 0:
            raise AnsibleActionFail("fleet_status: lockout_limit must be at least 1 and cooldown_s not negative")
        started = time.monotonic()
        clients, problems = inventory_clients(self._target_hosts(args, task_vars), task_vars.get("hostvars", {}),
                                              args["client_uuid_var"])
        # Shown as problem rows: a status read names what is wrong instead of refusing the fleet.
        inventory_errors = {host: f"inventory: {text}; fix the host's variables" for host, text in problems.items()}
        result.update(changed=False, broker=connection_summary(args), ledger=args["ledger"])
        timings = {"inventory_s": round(time.monotonic() - started, 2)}
        try:
            status = read_status(
                args, clients, ledger_factory=lambda: Ledger(args["ledger"]), listen_s=args["listen_s"],
                max_heartbeat_age_s=args["max_heartbeat_age_s"], connect_timeout_s=args["connect_timeout_s"],
                lockout_limit=args["lockout_limit"], lockout_window_s=args["lockout_window_s"],
                cooldown_s=args["cooldown_s"], inventory_errors=inventory_errors)
        except HealthError as exc:
            raise AnsibleActionFail(f"fleet_status: {exc}") from exc
        timings["read_s"] = round(time.monotonic() - started - timings["inventory_s"], 2)
        table = console_table(status["clients"])
        result.update(status)
        result["table"] = table
        result["problems"] = [r["host"] for r in status["clients"] if r["severity"] == "problem"]
        result["attention"] = [r["host"] for r in status["clients"] if r["severity"] == "attention"]
        if args["json_file"]:
            write_private(args["json_file"], json.dumps(status, indent=2, sort_keys=True) + "\n")
            result["json_file"] = args["json_file"]
        if args["html_file"]:
            write_private(args["html_file"], render_status_html(status, title=args["title"]))
            result["html_file"] = args["html_file"]
        timings["total_s"] = round(time.monotonic() - started, 2)
        result["timings"] = timings
        if args["show_table"]:
            counts = status["counts"]
            display.display(f"fleet status {status['generated_at']}: {counts['clients']} client(s), "
                            f"{counts['problem']} problem, {counts['attention']} attention, {counts['ok']} ok "
                            f"(listened {status['listened_s']} s; inventory {timings['inventory_s']} s, listen and "
                            f"ledger {timings['read_s']} s)\n"
                            + "\n".join(table))
        return result
