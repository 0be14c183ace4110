"""Connection errors say what happened (issue 12, item 6), through the real reboot.yml
(ansible-playbook, lifecycle_wave plugin) against a real mosquitto rendered by the broker role
with a plain and a TLS listener (throwaway CA, tests/fixtures/broker.py).

Each class names what failed and what to do, never with a traceback, never leaving an open
wave in the ledger, never printing the password, and nothing is sent (the play fails).
"""

import json
import os
import signal
import sqlite3
import sys
import uuid

import pytest
from infoscreen_sim.broker import LocalBroker, free_port, make_test_ca
from integration.faults.playbook_run import run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRONG_PASSWORD = "not-the-controller-password-4711"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    broker = LocalBroker(tmp_path_factory.mktemp("tls-broker"), clients=[], tls=True)
    broker.start()
    yield broker
    broker.stop()


def inventory(tmp_path, port):
    path = tmp_path / "inventory.json"
    hosts = {f"screen-{i:02d}": {"client_uuid": str(uuid.uuid4())} for i in (1, 2)}
    path.write_text(json.dumps({"all": {
        "vars": {"infoscreen_mqtt_host": "127.0.0.1", "infoscreen_mqtt_port": port},
        "children": {"infoscreen_clients": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "hosts": hosts}}}}))
    return path


def reboot(broker, tmp_path, port, *extra, password=None):
    ledger = tmp_path / "ledger.sqlite3"
    rc, output, report = run_playbook(
        "reboot.yml", inventory(tmp_path, port), tmp_path, "-e", "infoscreen_wave_size=2", *extra, ledger=ledger,
        username=broker.controller_username, password=password or broker.controller_password)
    return rc, output, report, ledger


def assert_clean_failure(rc, output, report, ledger, *expected):
    assert rc != 0, output
    assert "Traceback" not in output, output
    assert WRONG_PASSWORD not in output
    for text in expected:
        assert text in output, f"{text!r} not in the output:\n{output}"
    assert report is not None, output
    assert {row["state"] for row in report["hosts"]} <= {"failed", "not_run"}, report["hosts"]
    assert not any(row.get("executed") for row in report["hosts"])
    if ledger.exists():
        with sqlite3.connect(ledger) as db:
            assert db.execute("SELECT COUNT(*) FROM waves WHERE finished_at IS NULL").fetchone()[0] == 0
            assert db.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == 0


@pytest.mark.parametrize("per_host_outcome", [True, False])
def test_refused_credentials_name_the_user_and_the_broker(tls_broker, tmp_path, per_host_outcome):
    """A wrong controller password: the broker refuses the CONNECT. The message says the broker
    refused user infoscreen-controller's credentials at 127.0.0.1:PORT and what to check - also
    without the per-host outcome task (infoscreen_wave_per_host_outcome=false)."""
    port = tls_broker.plain_port
    rc, output, report, ledger = reboot(tls_broker, tmp_path, port,
                                        "-e", f"infoscreen_wave_per_host_outcome={str(per_host_outcome).lower()}",
                                        password=WRONG_PASSWORD)
    assert_clean_failure(rc, output, report, ledger, f"127.0.0.1:{port}", "refused the credentials",
                         "'infoscreen-controller'", "mqtt_password")


def test_tls_verification_failure_names_the_ca_file_and_the_host(tls_broker, tmp_path):
    """The controller trusts another CA than the one that signed the broker's certificate: the
    message says TLS verification of 127.0.0.1 failed against that CA file, and what to do."""
    other_ca = make_test_ca(tmp_path / "other-ca")["ca"]
    rc, output, report, ledger = reboot(tls_broker, tmp_path, tls_broker.tls_port,
                                        "-e", f"infoscreen_mqtt_ca_cert={other_ca}")
    assert_clean_failure(rc, output, report, ledger, "TLS verification", other_ca, "127.0.0.1",
                         "certificate verify failed", "mqtt_ca_cert")


@pytest.mark.parametrize("problem", ["missing", "not_a_certificate", "directory"])
def test_missing_or_unreadable_ca_file_names_the_file(tls_broker, tmp_path, problem):
    """mqtt_ca_cert points at a file that does not exist, is not a PEM certificate, or cannot be
    read as a file: the message names the file, says what is wrong with it and which setting
    to fix (no bare errno)."""
    ca = tmp_path / "ca.crt"
    if problem == "not_a_certificate":
        ca.write_text("this is not a certificate\n")
    elif problem == "directory":
        ca.mkdir()
    expected = {"missing": "does not exist", "not_a_certificate": "no PEM CA certificate",
                "directory": "cannot be read"}[problem]
    rc, output, report, ledger = reboot(tls_broker, tmp_path, tls_broker.tls_port,
                                        "-e", f"infoscreen_mqtt_ca_cert={ca}")
    assert_clean_failure(rc, output, report, ledger, str(ca), expected, "INFOSCREEN_MQTT_CA_CERT")
    assert "Errno" not in output


def test_refused_port_says_nothing_listens_there(tls_broker, tmp_path):
    """Nothing listens on the configured port: the message says the connection to 127.0.0.1:PORT
    was refused and to check that the broker runs and the port is right."""
    port = free_port()
    rc, output, report, ledger = reboot(tls_broker, tmp_path, port)
    assert_clean_failure(rc, output, report, ledger, f"127.0.0.1:{port}", "connection refused",
                         "mqtt_port")


def test_timeout_says_the_broker_did_not_answer(tls_broker, tmp_path):
    """The broker process is frozen (SIGSTOP): TCP connects, but no CONNACK ever comes. The
    message says 127.0.0.1:PORT did not answer within the connect timeout and what to check."""
    os.kill(tls_broker.pid, signal.SIGSTOP)
    try:
        rc, output, report, ledger = reboot(tls_broker, tmp_path, tls_broker.plain_port)
    finally:
        os.kill(tls_broker.pid, signal.SIGCONT)
    assert_clean_failure(rc, output, report, ledger, f"127.0.0.1:{tls_broker.plain_port}", "did not answer",
                         "within")


def test_recover_playbook_names_the_tls_verification_failure(tls_broker, tmp_path):
    """recover.yml reads client health first (recover_health, its own connection): a CA that did
    not sign the broker's certificate is named there too (it said "no answer"), nothing is sent
    and the play fails without a traceback."""
    other_ca = make_test_ca(tmp_path / "other-ca")["ca"]
    ledger = tmp_path / "ledger.sqlite3"
    rc, output, _report = run_playbook(
        "recover.yml", inventory(tmp_path, tls_broker.tls_port), tmp_path, "-e", f"infoscreen_mqtt_ca_cert={other_ca}",
        "-e", f"infoscreen_ledger={ledger}", "-e", f"infoscreen_recover_report_file={tmp_path / 'recover.json'}",
        ledger=ledger, username=tls_broker.controller_username, password=tls_broker.controller_password)
    assert rc != 0, output
    assert "Traceback" not in output
    for text in ("TLS verification", other_ca, "certificate verify failed"):
        assert text in output, f"{text!r} not in the output:\n{output}"
    if ledger.exists():
        with sqlite3.connect(ledger) as db:
            assert db.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == 0
