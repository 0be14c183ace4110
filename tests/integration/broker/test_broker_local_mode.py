"""LocalBroker and the role's local mode: TLS, the ACL checker catching a widened ACL, restart
with persistence, a re-render that changes only the rotated password, reload on SIGHUP.

Each test reuses one broker for several checks: rendering with ansible-playbook is the
expensive part (seconds), the checks themselves are fast.
"""

import os
import re
import signal
import ssl
import time

import pytest
from broker_probe import Probe, connect_reason
from fixtures.broker import make_clients
from infoscreen_sim.broker import check_acl_matrix, make_test_ca

pytestmark = pytest.mark.integration


def _recap_changed(broker):
    return int(re.search(r"changed=(\d+)", broker.render_log_path.read_text()).group(1))


def _wait_connect(broker, username, password, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = connect_reason(broker, username, password)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_tls_listener_and_the_acl_checker_catching_a_widened_acl(local_broker, tmp_path):
    clients = make_clients(2, prefix="tls")
    broker = local_broker(clients, tls=True)
    assert broker.ca_cert and broker.port == broker.tls_port != broker.plain_port
    ctl = (broker.controller_username, broker.controller_password)
    assert connect_reason(broker, *ctl, ca_cert=broker.ca_cert) == "Success"
    assert connect_reason(broker, clients[0]["client_uuid"], clients[0]["password"], ca_cert=broker.ca_cert) == \
        "Success"
    assert connect_reason(broker, None, None, ca_cert=broker.ca_cert) == "Not authorized"
    assert connect_reason(broker, *ctl, port=broker.plain_port) == "Success"
    # A client trusting another CA must not complete the handshake.
    other_ca = make_test_ca(tmp_path / "other-ca")["ca"]
    with pytest.raises(ssl.SSLError):
        Probe(broker, *ctl, ca_cert=other_ca)

    args = (broker.host, broker.port, *ctl, clients)
    assert check_acl_matrix(*args, ca_cert=broker.ca_cert) == []
    # Negative control: the last 'user' block is the last client's; let it read and write everything.
    acl = broker.conf_dir / "acl"
    acl.write_text(acl.read_text() + "topic readwrite infoscreen/#\n")
    os.kill(broker.pid, signal.SIGHUP)
    time.sleep(0.5)
    problems = check_acl_matrix(*args, ca_cert=broker.ca_cert)
    widened = clients[-1]["client_uuid"]
    assert any(f"client {widened} received a message it must not read" in p for p in problems), problems
    assert any(p.startswith("denied publish was delivered") and f":{widened}->" in p for p in problems), problems


def test_restart_rerender_and_password_rotation(local_broker):
    clients = make_clients(2, prefix="rotate")
    broker = local_broker(clients)

    # Restart: same port, and a QoS 1 command queued for an offline persistent session survives.
    me = clients[0]
    topic = f"infoscreen/{me['client_uuid']}/commands"
    session = dict(client_id=me["client_uuid"], clean_session=False)
    probe = Probe(broker, me["client_uuid"], me["password"], **session)
    probe.subscribe(topic)
    probe.close()
    controller = Probe(broker, broker.controller_username, broker.controller_password)
    controller.publish(topic, "queued-while-offline")
    controller.close()
    port, pid = broker.port, broker.pid
    broker.restart()
    assert broker.port == port and broker.pid != pid
    back = Probe(broker, me["client_uuid"], me["password"], **session)
    try:
        assert back.wait_for("queued-while-offline"), "the QoS 1 command queued before the restart was lost"
    finally:
        back.close()

    # Re-render with one password rotated: exactly one file task changes (the password file),
    # and in it exactly that client's line; every other line keeps its salt (idempotent hashing).
    passwd = broker.conf_dir / "passwd"
    before = passwd.read_text()
    assert oct(passwd.stat().st_mode & 0o777) == "0o600"
    old = clients[1]["password"]
    broker.clients[1]["password"] = "rotated-" + old
    broker.render()
    assert _recap_changed(broker) == 1
    lines_before, lines_after = before.splitlines(), passwd.read_text().splitlines()
    assert len(lines_before) == len(lines_after)
    changed = [a for a, b in zip(lines_before, lines_after) if a != b]
    assert len(changed) == 1 and changed[0].startswith(clients[1]["client_uuid"] + ":")
    os.kill(broker.pid, signal.SIGHUP)
    assert _wait_connect(broker, clients[1]["client_uuid"], "rotated-" + old, "Success") == "Success"
    assert connect_reason(broker, clients[1]["client_uuid"], old) == "Not authorized"
    assert connect_reason(broker, me["client_uuid"], me["password"]) == "Success"
