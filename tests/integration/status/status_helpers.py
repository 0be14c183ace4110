"""Helpers of the fleet status / acknowledge tests: a real service_failed report, a fresh subscriber,
headless Chromium."""

import datetime
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = "/usr/bin/chromium"


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_service_failed(fleet, name, unit="signage-player.service"):
    """The client's own OnFailure= notifier (the real agent CLI with the client's agent.ini) reports UNIT failed."""
    client = fleet.clients[name]
    run = subprocess.run([sys.executable, "-m", "infoscreen_agent", "--config", str(client.config_path),
                          "notify-service-failed", unit], capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def hold(fleet, name, owner, reason):
    """The client's local hold (the real agent CLI: infoscreen-agent hold), reported in its next health."""
    client = fleet.clients[name]
    command = [sys.executable, "-m", "infoscreen_agent", "--config", str(client.config_path), "hold",
               "--owner", owner, "--reason", reason]
    run = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def retained_reports(fleet, names, timeout=10.0):
    """What a fresh subscriber (new connection, controller account) gets retained on the clients'
    service_failed topics: {name: payload bytes}. A second subscription with "no retained" is the
    fence: its SUBACK comes after every retained message of the first (QoS 0, written at once)."""
    broker, controller = fleet.manifest["broker"], fleet.manifest["controller"]
    topics = {f"infoscreen/{fleet.clients[n].client_uuid}/service_failed": n for n in names}
    got, fenced = {}, threading.Event()
    state = {}

    def on_connect(client, _u, _f, _reason, _p):
        client.subscribe([(t, SubscribeOptions(qos=0)) for t in topics])
        state["fence"] = client.subscribe(next(iter(topics)), options=SubscribeOptions(qos=0, retainHandling=2))[1]

    def on_subscribe(_c, _u, mid, _codes, _p):
        if mid == state.get("fence"):
            fenced.set()

    def on_message(_c, _u, message):
        if not fenced.is_set() and message.payload:
            got[topics[message.topic]] = bytes(message.payload)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fresh-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(controller["username"], controller["password"])
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(broker["host"], broker["port"], keepalive=30)
    client.loop_start()
    try:
        assert fenced.wait(timeout), "fresh subscriber got no SUBACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return got


def chromium(html_path, profile_dir, *, screenshot=None, fragment="", size="1920,820", timeout=120):
    """Load a local file in headless Chromium (Debian package, no network); return the DOM it built."""
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile_dir}", f"--window-size={size}"]
    url = Path(html_path).resolve().as_uri() + fragment
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout, check=True)
    if screenshot is not None:
        subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, text=True,
                       timeout=timeout, check=True)
    return dom.stdout
