"""The rendered sudoers drop-in passes visudo and allows exactly the three helper verbs."""

import pathlib
import re
import shutil
import subprocess

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import comment

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "pi_agent"
DEFAULTS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())


def render(name, **extra):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["comment"] = comment
    variables = {**DEFAULTS, "ansible_managed": "Ansible managed", "_pi_agent_failure_template": "x@.service",
                 "_pi_agent_bin": "/opt/infoscreen-agent/current/venv/bin/infoscreen-agent", **extra}
    return env.get_template(name).render(**variables)


@pytest.mark.skipif(shutil.which("visudo") is None,
                    reason="sudo (visudo) is not installed; scripts/bootstrap.sh installs it")
def test_sudoers_passes_visudo(tmp_path):
    path = tmp_path / "sudoers"
    path.write_text(render("sudoers.j2"))
    path.chmod(0o440)
    proc = subprocess.run(["visudo", "-cf", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sudoers_names_exactly_three_verbs():
    text = render("sudoers.j2")
    helper = DEFAULTS["pi_agent_helper_path"]
    alias = next(line for line in text.splitlines() if line.startswith("Cmnd_Alias"))
    assert re.findall(re.escape(helper) + r" (\S+?)(?:,|$)", alias) == ["reboot", "shutdown", "restart-app"]
    rules = [line for line in text.splitlines() if line and not line.startswith(("#", "Cmnd_Alias", "Defaults"))]
    assert rules == [f"{DEFAULTS['pi_agent_user']} ALL=(root) NOPASSWD: INFOSCREEN_HELPER"]


def test_templates_start_with_ansible_managed():
    for template in (ROLE / "templates").glob("*.j2"):
        assert template.read_text().startswith("{{ ansible_managed | comment }}"), template.name


def test_agent_unit_keeps_sudo_usable():
    text = render("infoscreen-agent.service.j2")
    settings = [line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")]
    # Each of these sets NoNewPrivileges for a non-root service, which makes sudo inert.
    forbidden = {"NoNewPrivileges", "SystemCallFilter", "RestrictAddressFamilies", "PrivateDevices",
                 "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectClock",
                 "ProtectHostname", "LockPersonality", "MemoryDenyWriteExecute", "RestrictRealtime",
                 "RestrictSUIDSGID", "RestrictNamespaces", "DynamicUser", "CapabilityBoundingSet",
                 "SystemCallArchitectures"}
    assert forbidden.isdisjoint(settings)
    assert "Type=notify" in text
    assert re.search(r"(?m)^WatchdogSec=60$", text)
    assert re.search(r"(?m)^OnFailure=infoscreen-service-failed@%n\.service$", text)
