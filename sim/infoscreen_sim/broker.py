"""A real mosquitto on loopback, configured by the real ``mqtt_broker`` role (local mode).

Interface (other parts of the simulated fleet and the tests rely on it)::

    broker = LocalBroker(workdir, clients=[{"name", "client_uuid", "password"}, ...],
                         controller_password=None, port=None, tls=False, extra_vars=None)
    broker.start()      # renders with ansible-playbook playbooks/broker_local.yml, starts mosquitto
    broker.host, broker.port, broker.controller_username, broker.controller_password
    broker.ca_cert      # path of the throwaway CA when tls=True, else None
    broker.restart()    # same port and files; persistence kept (mid-wave broker restart)
    broker.stop()       # also on leaving ``with LocalBroker(...) as broker:``

With ``tls=True`` the broker has both listeners: ``port`` is the TLS listener (the CA is
``ca_cert``, the server certificate names 127.0.0.1 and localhost) and ``plain_port`` the
plain one. Without TLS, ``port == plain_port`` and ``tls_port`` is None.

Files in ``workdir``: ``inventory.yml`` and ``broker-vars.yml`` (0600, hold the passwords),
``broker/`` (mosquitto.conf, passwd, acl, data/), ``render.log`` (ansible-playbook output,
secrets are no_log) and ``mosquitto.log``. Started as root, the local config says
``user root`` so mosquitto does not drop to a user that cannot read the scratch folder.

``check_acl_matrix`` connects every client and the controller and reports every ACL rule
that does not hold, and every client account that could take over another's client id;
``python -m infoscreen_sim.broker check-acl`` runs it from the command line (the molecule
scenario uses it against the broker installed in its instance).
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

REPO_ROOT = Path(os.environ.get("INFOSCREEN_ROOT") or Path(__file__).resolve().parents[2])
CONTROLLER_USERNAME = "infoscreen-controller"
CLIENTS_GROUP = "infoscreen_clients"
READY_TIMEOUT_S = 15.0
RENDER_TIMEOUT_S = 300.0


class BrokerError(RuntimeError):
    """The local broker could not be rendered or started; the message says where to look."""


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ansible_playbook():
    sibling = Path(sys.executable).with_name("ansible-playbook")
    if sibling.exists():
        return str(sibling)
    found = shutil.which("ansible-playbook")
    if not found:
        raise BrokerError("ansible-playbook not found; run `source scripts/bootstrap.sh` first")
    return found


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.chmod(path, 0o600)


def make_test_ca(directory):
    """Write a throwaway CA and a server certificate for 127.0.0.1/localhost; return paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # fast to generate, unlike RSA
    run("req", "-x509", *ec, "-nodes", "-days", "2", "-subj", "/CN=infoscreen test CA",
        "-keyout", str(ca_key), "-out", str(ca_crt))
    run("req", *ec, "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(crt))
    for path in (ca_key, key):
        os.chmod(path, 0o600)
    return {"ca": str(ca_crt), "cert": str(crt), "key": str(key)}


def own_client_id(username, prefix="probe"):
    """The client id an account may use: a client account (username = its client_uuid) only its
    own (the broker binds it, docs/broker.md "Client ids"); the controller a fresh one."""
    try:
        if username and str(uuid.UUID(username)) == username:
            return username
    except ValueError:
        pass
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def try_connect(host, port, username, password, *, ca_cert=None, timeout=5.0, client_id=None, clean_session=True):
    """Connect once and disconnect. Returns the CONNACK reason as a string ('Success' on success).

    Raises OSError/TimeoutError when nothing answers.
    """
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or own_client_id(username),
                         protocol=mqtt.MQTTv311, clean_session=clean_session)
    if username is not None:
        client.username_pw_set(username, password)
    if ca_cert:
        client.tls_set(ca_certs=ca_cert)
    result = {}
    done = threading.Event()

    def on_connect(_client, _userdata, _flags, reason_code, _properties):
        result["reason"] = str(reason_code)
        done.set()

    def on_disconnect(_client, _userdata, _flags, reason_code, _properties):
        result.setdefault("reason", str(reason_code))
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        if not done.wait(timeout):
            raise TimeoutError(f"no CONNACK from {host}:{port} within {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()
    return result["reason"]


class LocalBroker:
    def __init__(self, workdir, clients, controller_password=None, port=None, tls=False, *, extra_vars=None):
        self.workdir = Path(workdir).resolve()
        self.extra_vars = dict(extra_vars or {})  # more mqtt_broker_* role variables (tests: small limits)
        self.clients = [
            {"name": str(c["name"]), "client_uuid": str(c["client_uuid"]), "password": str(c["password"])}
            for c in clients
        ]
        self.controller_username = CONTROLLER_USERNAME
        self.controller_password = controller_password or secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.tls = bool(tls)
        self._fixed_port = port is not None
        self.port = port
        self.plain_port = None
        self.tls_port = None
        self.ca_cert = None
        self.conf_dir = self.workdir / "broker"
        self.conf_path = self.conf_dir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.render_log_path = self.workdir / "render.log"
        self._proc = None
        self._rendered = False
        self.render_seconds = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def start(self):
        if self.running():
            return self
        if not self._rendered:
            self._choose_ports()
            self.render()
        for attempt in range(3):
            try:
                self._spawn()
                return self
            except BrokerError:
                # An auto-chosen port may have been taken meanwhile: render with new ports.
                if self._fixed_port or attempt == 2 or "Address already in use" not in _tail(self.log_path, 5):
                    raise
                self._choose_ports(force=True)
                self.render()
        return self

    def restart(self, kill=False):
        """Stop (SIGTERM, or SIGKILL with ``kill=True``) and start again on the same port."""
        self._terminate(signal.SIGKILL if kill else signal.SIGTERM)
        self._spawn()
        return self

    def stop(self):
        self._terminate(signal.SIGTERM)

    # -- pieces ----------------------------------------------------------------------------
    def _choose_ports(self, force=False):
        if self.plain_port is not None and not force:
            return
        if self.tls:
            self.tls_port = self.port if (self._fixed_port and not force) else free_port()
            self.plain_port = free_port()
            while self.plain_port == self.tls_port:
                self.plain_port = free_port()
            self.port = self.tls_port
        else:
            self.plain_port = self.port if (self._fixed_port and not force) else free_port()
            self.port = self.plain_port

    def render(self):
        """Run the real role in local mode (playbooks/broker_local.yml) into ``conf_dir``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        inventory = {
            "all": {
                "children": {
                    CLIENTS_GROUP: {
                        "hosts": {
                            c["name"]: {"client_uuid": c["client_uuid"], "infoscreen_mqtt_password": c["password"]}
                            for c in self.clients
                        }
                    }
                }
            }
        }
        variables = {
            "mqtt_broker_local_dir": str(self.conf_dir),
            "mqtt_broker_listener_port": self.plain_port,
            "mqtt_broker_controller_username": self.controller_username,
            "mqtt_broker_controller_password": self.controller_password,
            "mqtt_broker_clients_group": CLIENTS_GROUP,
        }
        variables.update(self.extra_vars)
        if self.tls:
            paths = make_test_ca(self.workdir / "tls")
            self.ca_cert = paths["ca"]
            variables.update(
                mqtt_broker_tls_enabled=True,
                mqtt_broker_tls_port=self.tls_port,
                mqtt_broker_tls_cert_path=paths["cert"],
                mqtt_broker_tls_key_path=paths["key"],
                mqtt_broker_tls_ca_path=paths["ca"],
            )
        inventory_path = self.workdir / "inventory.yml"
        vars_path = self.workdir / "broker-vars.yml"
        _write_private(inventory_path, inventory)
        _write_private(vars_path, variables)
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_PIPELINING="1", ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        cmd = [_ansible_playbook(), "-i", str(inventory_path), "-e", f"@{vars_path}",
               "-e", f"ansible_python_interpreter={sys.executable}", str(REPO_ROOT / "playbooks" / "broker_local.yml")]
        started = time.monotonic()
        with open(self.render_log_path, "w", encoding="utf-8") as log:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=RENDER_TIMEOUT_S, check=False)
        self.render_seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise BrokerError(f"rendering the local broker failed (rc={proc.returncode}); "
                              f"see {self.render_log_path}:\n{_tail(self.render_log_path)}")
        self._rendered = True

    def _spawn(self):
        log = open(self.log_path, "a", encoding="utf-8")
        try:
            self._proc = subprocess.Popen(["mosquitto", "-c", str(self.conf_path)], stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "not tried"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                raise BrokerError(f"mosquitto exited at start; see {self.log_path}:\n{_tail(self.log_path)}")
            try:
                last = try_connect(self.host, self.port, self.controller_username, self.controller_password,
                                   ca_cert=self.ca_cert, timeout=2.0)
                if last == "Success":
                    return
            except (OSError, TimeoutError) as exc:
                last = str(exc)
            time.sleep(0.05)
        self._terminate(signal.SIGKILL)
        raise BrokerError(f"mosquitto on {self.host}:{self.port} did not accept the controller within "
                          f"{READY_TIMEOUT_S} s (last: {last}); see {self.log_path}")

    def _terminate(self, sig):
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- ACL matrix check (used by the molecule scenario; the pytest suite asserts it directly) -------
class _Recorder:
    """One connected MQTT client remembering (topic, payload) of every message it gets."""

    def __init__(self, host, port, username, password, ca_cert=None):
        self.received = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=own_client_id(username, "acl"),
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(username, password)
        if ca_cert:
            self.client.tls_set(ca_certs=ca_cert)
        self.client.on_message = self._on_message
        self._connected = threading.Event()
        self.client.on_connect = lambda *args: self._connected.set()
        self.client.connect(host, port, keepalive=20)
        self.client.loop_start()
        if not self._connected.wait(5):
            raise TimeoutError(f"{username} did not connect to {host}:{port}")

    def _on_message(self, _client, _userdata, message):
        with self._lock:
            self.received.append((message.topic, message.payload.decode(errors="replace")))

    def subscribe(self, topics):
        for topic in topics:
            self.client.subscribe(topic, qos=1)

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def payloads(self):
        with self._lock:
            return {payload for _topic, payload in self.received}

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _client_write_topics(client_uuid):
    base = f"infoscreen/{client_uuid}"
    return [f"{base}/commands/ack", f"{base}/command/ack", f"{base}/heartbeat", f"{base}/health",
            f"{base}/service_failed", f"{base}/logs"]


def _client_read_topics(client_uuid):
    return [f"infoscreen/{client_uuid}/commands", f"infoscreen/{client_uuid}/command"]


def check_acl_matrix(host, port, controller_username, controller_password, clients, *, ca_cert=None, settle_s=1.0):
    """Exercise every allowed and denied path; return a list of violations (empty = ACL holds).

    ``clients`` are dicts with ``client_uuid`` and ``password``. Denials are silent, so a
    denied path is proven by its unique token never arriving anywhere.
    """
    run = uuid.uuid4().hex[:8]
    problems = []
    controller = _Recorder(host, port, controller_username, controller_password, ca_cert)
    recorders = {}
    try:
        controller.subscribe(["infoscreen/#"])
        for c in clients:
            rec = _Recorder(host, port, c["client_uuid"], c["password"], ca_cert)
            recorders[c["client_uuid"]] = rec
            # Its own command topics (allowed) plus everything else (must stay silent).
            rec.subscribe(_client_read_topics(c["client_uuid"]) + ["infoscreen/#", "#"])
        time.sleep(0.3)
        expected_at = {u: set() for u in recorders}  # tokens each client must get
        controller_expect, denied = set(), set()
        for c in clients:
            me = c["client_uuid"]
            for topic in _client_read_topics(me):
                token = f"{run}:ctl->{topic}"
                controller.publish(topic, token)
                expected_at[me].add(token)
                controller_expect.add(token)  # the controller also reads infoscreen/#
            for topic in _client_write_topics(me):
                token = f"{run}:{me}->{topic}"
                recorders[me].publish(topic, token)
                controller_expect.add(token)
            for topic in _client_read_topics(me):  # a client may not inject its own commands
                token = f"{run}:{me}->own-command:{topic}"
                recorders[me].publish(topic, token)
                denied.add(token)
            for other in clients:
                if other["client_uuid"] == me:
                    continue
                for topic in _client_read_topics(other["client_uuid"]) + _client_write_topics(other["client_uuid"]):
                    token = f"{run}:{me}->{topic}"
                    recorders[me].publish(topic, token)
                    denied.add(token)
        time.sleep(settle_s)
        got_ctl = controller.payloads()
        for token in sorted(controller_expect - got_ctl):
            problems.append(f"controller did not receive allowed message {token}")
        for me, rec in recorders.items():
            got = rec.payloads()
            for token in sorted(expected_at[me] - got):
                problems.append(f"client {me} did not receive its own command {token}")
            for token in sorted(got - expected_at[me]):
                problems.append(f"client {me} received a message it must not read: {token}")
        everyone = set(got_ctl).union(*(r.payloads() for r in recorders.values()))
        for token in sorted(denied & everyone):
            problems.append(f"denied publish was delivered: {token}")
        problems += check_takeover(host, port, clients, ca_cert=ca_cert)
    finally:
        controller.close()
        for rec in recorders.values():
            rec.close()
    return problems


def check_takeover(host, port, clients, *, ca_cert=None):
    """Each client account presents the next client's id, then a foreign id: both must be refused.

    Returns violations. A refused attempt is harmless, an accepted one would have kicked the
    owner off and taken over its session and queued command (docs/broker.md "Client ids").
    """
    problems = []
    if len(clients) < 2:
        return problems
    for index, client in enumerate(clients):
        victim = clients[(index + 1) % len(clients)]
        for target in (victim["client_uuid"], f"foreign-{uuid.uuid4().hex[:8]}"):
            for clean in (True, False):
                reason = try_connect(host, port, client["client_uuid"], client["password"], ca_cert=ca_cert,
                                     client_id=target, clean_session=clean)
                if reason == "Success":
                    problems.append(f"client {client['client_uuid']} took over client id {target} "
                                    f"(clean_session {clean})")
    return problems


def _serve(args):
    clients = [{"name": f"pi-{i:03d}", "client_uuid": str(uuid.uuid4()), "password": secrets.token_urlsafe(12)}
               for i in range(args.clients)]
    with LocalBroker(args.workdir, clients, port=args.port, tls=args.tls) as broker:
        accounts = Path(args.workdir) / "accounts.json"
        _write_private(accounts, {"controller_username": broker.controller_username,
                                  "controller_password": broker.controller_password, "clients": clients})
        print(f"mosquitto pid {broker.pid} on {broker.host}:{broker.port}"
              f"{' (TLS, CA ' + broker.ca_cert + ')' if broker.ca_cert else ''}; accounts in {accounts} (0600)")
        print("Ctrl-C stops it")
        try:
            while broker.running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


def _main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.broker", description=__doc__.partition("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    chk = sub.add_parser("check-acl", help="check auth and the ACL matrix of a running broker")
    chk.add_argument("--host", default="127.0.0.1")
    chk.add_argument("--port", type=int, required=True)
    chk.add_argument("--ca-cert")
    chk.add_argument("--accounts", required=True,
                     help="JSON file ('-' = stdin): {controller_username, controller_password, "
                          "clients: [{client_uuid, password} or [client_uuid, password]]}")
    srv = sub.add_parser("serve", help="render with the role and run a local broker until Ctrl-C")
    srv.add_argument("--workdir", required=True)
    srv.add_argument("--clients", type=int, default=3, help="number of generated clients")
    srv.add_argument("--port", type=int)
    srv.add_argument("--tls", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return _serve(args)
    spec = json.loads(sys.stdin.read() if args.accounts == "-" else Path(args.accounts).read_text())
    spec["clients"] = [
        c if isinstance(c, dict) else {"client_uuid": c[0], "password": c[1]} for c in spec["clients"]
    ]
    failures = []
    checks = {
        "controller": (spec["controller_username"], spec["controller_password"], "Success"),
        "client": (spec["clients"][0]["client_uuid"], spec["clients"][0]["password"], "Success"),
        "anonymous": (None, None, "Not authorized"),
        "wrong password": (spec["controller_username"], spec["controller_password"] + "-wrong", "Not authorized"),
    }
    for label, (user, password, want) in checks.items():
        got = try_connect(args.host, args.port, user, password, ca_cert=args.ca_cert)
        print(f"connect {label}: {got}")
        if got != want:
            failures.append(f"{label} connect gave {got!r}, expected {want!r}")
    failures += check_acl_matrix(args.host, args.port, spec["controller_username"], spec["controller_password"],
                                 spec["clients"], ca_cert=args.ca_cert)
    for line in failures:
        print(f"FAIL {line}")
    print(f"acl matrix: {len(spec['clients'])} clients, {len(failures)} violations")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_main())
