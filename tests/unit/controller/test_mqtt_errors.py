"""Connection problems in words (mqtt_client): CA file checks, the probe's classes, and
wait_connected ending at once on a problem that waiting cannot fix. Real sockets on loopback,
no broker (the broker cases run in tests/integration/faults/test_connection_errors.py)."""

import socket
import threading
import time

import pytest
from ansible_collections.infoscreen.fleet.plugins.plugin_utils import mqtt_client
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.mqtt_client import (
    MqttConnectError,
    build_client,
    check_ca_file,
    probe,
    wait_connected,
)


def params(port, **extra):
    return {"mqtt_host": "127.0.0.1", "mqtt_port": port, "mqtt_username": "infoscreen-controller",
            "mqtt_password": "secret-pw", "mqtt_tls": False, "mqtt_ca_cert": None, "mqtt_keepalive": 30, **extra}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_listener():
    """Accepts TCP connections and never says a word (a hung broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.parametrize(("make", "expected"), [
    (lambda path: None, "does not exist"),
    (lambda path: path.mkdir(), "cannot be read (Is a directory)"),
    (lambda path: path.write_text("not a certificate\n"), "holds no PEM CA certificate"),
])
def test_unusable_ca_file_is_named_with_the_setting_to_fix(tmp_path, make, expected):
    """A CA file that is missing, not a file, or not PEM: MqttConnectError naming it, no errno."""
    path = tmp_path / "ca.crt"
    make(path)
    with pytest.raises(MqttConnectError) as caught:
        check_ca_file(params(1883, mqtt_ca_cert=str(path)))
    message = str(caught.value)
    assert str(path) in message and expected in message and "INFOSCREEN_MQTT_CA_CERT" in message
    assert "Errno" not in message
    with pytest.raises(MqttConnectError):
        build_client(params(1883, mqtt_ca_cert=str(path)), client_id="x")


def test_probe_of_a_refused_port_says_nothing_listens():
    port = free_port()
    found = probe(params(port), timeout_s=2)
    assert f"connection refused by 127.0.0.1:{port}" in found.message and "mqtt_port" in found.message
    assert not found.lasting  # a broker that is restarting comes back: keep waiting


def test_probe_of_a_silent_listener_says_it_did_not_answer(silent_listener):
    found = probe(params(silent_listener), timeout_s=0.5)
    assert f"127.0.0.1:{silent_listener} did not answer within" in found.message
    assert "secret-pw" not in found.message


def test_probe_of_an_unknown_host_is_lasting():
    found = probe(params(1883, mqtt_host="no-such-host.invalid"), timeout_s=2)
    assert "cannot be resolved" in found.message and found.lasting


class _Client:
    _infoscreen_failed_attempts = 1


def test_wait_connected_ends_at_once_on_a_lasting_problem(monkeypatch):
    """Refused credentials (or TLS verification) cannot get better by waiting: no 15 s wait."""
    monkeypatch.setattr(mqtt_client, "probe", lambda *_a, **_k: mqtt_client.ConnectProblem("refused", lasting=True))
    started = time.monotonic()
    assert wait_connected(_Client(), params(1), lambda: False, timeout_s=15) == "refused"
    assert time.monotonic() - started < 5


def test_wait_connected_keeps_waiting_on_a_passing_problem_and_reports_it(monkeypatch):
    calls = []
    monkeypatch.setattr(mqtt_client, "probe", lambda *_a, **_k: calls.append(1) or mqtt_client.ConnectProblem("down"))
    ready = {"at": time.monotonic() + 0.5}
    assert wait_connected(_Client(), params(1), lambda: time.monotonic() > ready["at"], timeout_s=5) is None
    assert wait_connected(_Client(), params(1), lambda: False, timeout_s=0.3) == "down"
    assert len(calls) == 2  # one probe per wait
