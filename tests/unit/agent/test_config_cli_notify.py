import socket
import subprocess
import sys

import pytest
from agent_doubles import write_config
from infoscreen_agent import __version__
from infoscreen_agent.config import ConfigError, load
from infoscreen_agent.sdnotify import Notifier


def test_documented_example_config_loads(tmp_path):
    cfg = write_config(tmp_path, release="1.0.0+settings1+ssd1 ; label", heartbeat_interval_s=30)
    assert cfg.release == "1.0.0+settings1+ssd1"
    assert cfg.port == 1883
    assert cfg.helper_command[-1].endswith("infoscreen-helper")
    assert cfg.ignored == []


@pytest.mark.parametrize(("line", "words"), [
    ("client_uuid = not-a-uuid", "[agent] client_uuid"),
    ("heartbeat_interval_s = soon", "[agent] heartbeat_interval_s"),
    ("helper_command = ", "[agent] helper_command"),
    ("health_interval_s = 0", "[agent] health_interval_s"),
])
def test_bad_values_name_the_key(tmp_path, line, words):
    write_config(tmp_path)
    path = tmp_path / "agent.ini"
    key = line.split(" = ")[0]
    text = "\n".join(x for x in path.read_text().splitlines() if not x.startswith(key + " "))
    path.write_text(text.replace("[agent]", f"[agent]\n{line}"))
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        load(str(tmp_path / "nope.ini"))


def test_layered_configs_override_single_keys_in_order(tmp_path):
    write_config(tmp_path, release="1.0.0", heartbeat_interval_s=30)
    base = tmp_path / "agent.ini"
    (tmp_path / "site").mkdir()
    override = tmp_path / "site" / "role.ini"
    override.write_text("[agent]\nrelease = 1.1.0+settings2\n")
    cfg = load([str(base), str(override)])
    assert cfg.release == "1.1.0+settings2"  # from the later file
    assert cfg.heartbeat_interval_s == 30  # kept from the earlier file
    assert load([str(override), str(base)]).release == "1.0.0"
    override.write_text("[agent]\nheartbeat_interval_s = soon\n")
    with pytest.raises(ConfigError) as info:
        load([str(base), str(override)])
    assert f"{base} + {override}" in str(info.value) and "heartbeat_interval_s" in str(info.value)


def test_cli_accepts_repeated_config(tmp_path):
    write_config(tmp_path)
    extra = tmp_path / "extra.ini"
    extra.write_text("[agent]\nlog_level = debug\n")
    cmd = [sys.executable, "-m", "infoscreen_agent", "--config", str(tmp_path / "agent.ini"), "--config", str(extra),
           "check-config"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"{tmp_path / 'agent.ini'} + {extra}: ok" in proc.stdout
    extra.write_text("[agent\n")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and f"agent config {extra} is not valid INI" in proc.stderr


def test_cli_version_and_config_error_exit_codes(tmp_path):
    out = subprocess.run([sys.executable, "-m", "infoscreen_agent", "version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == __version__
    bad = subprocess.run([sys.executable, "-m", "infoscreen_agent", "--config", str(tmp_path / "x.ini"), "run"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "x.ini" in bad.stderr


def test_sd_notify_sends_ready_and_watchdog(tmp_path):
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(2)
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000000"})
        assert notifier.watchdog_interval_s == 10
        assert notifier.ready()
        assert b"READY=1" in server.recv(256)
        assert notifier.watchdog()
        assert server.recv(256) == b"WATCHDOG=1"


def test_sd_notify_is_silent_without_socket():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval_s is None
