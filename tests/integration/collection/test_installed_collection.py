"""Acceptance: the collection works installed, with no checkout anywhere in sight.

Build the tarball, install it into an empty collections path outside the checkout, then from
an empty directory (no ansible.cfg, no checkout on any path): ansible-doc renders every plugin
and role, every playbook syntax-checks by its FQCN, and the pi_agent role installs a release
into a scratch root from the installed collection alone (wheel built from the agent sources
the collection carries, helper and templates from the collection).
"""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(sys.executable).parent
HARNESS = ("sim", "drills", "bench", "tests", "molecule", "scripts")
UUID = "0b6f1a52-4e4c-4a8e-9d53-1f0d8a6c2b10"


def run(*args, cwd, env):
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(collections path, empty working directory, environment) of a fresh install."""
    base = tmp_path_factory.mktemp("installed-collection")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANSIBLE_") and key not in ("PYTHONPATH", "INFOSCREEN_ROOT")}
    build = run("ansible-galaxy", "collection", "build", "--output-path", str(base / "dist"), cwd=ROOT, env=env)
    assert build.returncode == 0, build.stderr
    (tarball,) = (base / "dist").glob("infoscreen-fleet-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    shipped_harness = sorted({name.split("/")[0] for name in names} & set(HARNESS))
    assert shipped_harness == [], f"build_ignore lets the harness into the artifact: {shipped_harness}"
    collections = base / "collections"
    install = run("ansible-galaxy", "collection", "install", "--no-deps", "-p", str(collections), str(tarball),
                  cwd=base, env=env)
    assert install.returncode == 0, install.stderr
    workdir = base / "elsewhere"
    workdir.mkdir()
    env.update({"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_NOCOLOR": "1",
                "HOME": env.get("HOME", str(base)),
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"})
    return collections / "ansible_collections" / "infoscreen" / "fleet", workdir, env


@pytest.mark.parametrize("plugin_type", ["module", "callback", "lookup", "filter", "role"])
def test_ansible_doc_renders_every_plugin_and_role_of_the_installed_collection(installed, plugin_type):
    """Each plugin type of the installed collection is listed and every entry renders with a
    short description, read from the install, not the checkout."""
    root, workdir, env = installed
    listing = run("ansible-doc", "-t", plugin_type, "-l", "infoscreen.fleet", "-j", cwd=workdir, env=env)
    assert listing.returncode == 0, listing.stderr
    names = sorted(json.loads(listing.stdout))
    assert names, f"no {plugin_type} listed from {root}"
    rendered = run("ansible-doc", "-t", plugin_type, "-j", *names, cwd=workdir, env=env)
    assert rendered.returncode == 0, rendered.stderr
    docs = json.loads(rendered.stdout)
    assert sorted(docs) == names
    if plugin_type != "role":
        assert all(docs[name]["doc"].get("short_description") for name in names), docs


def test_every_playbook_syntax_checks_by_fqcn(installed):
    """ansible-playbook infoscreen.fleet.<name> --syntax-check passes for every shipped playbook."""
    root, workdir, env = installed
    playbooks = sorted(p.stem for p in (root / "playbooks").glob("*.yml"))
    assert "canary" in playbooks and "agent" in playbooks, playbooks
    failed = {}
    for name in playbooks:
        result = run("ansible-playbook", "-i", "localhost,", f"infoscreen.fleet.{name}", "--syntax-check",
                     cwd=workdir, env=env)
        if result.returncode != 0:
            failed[name] = (result.stdout + result.stderr)[-1500:]
    assert failed == {}


def test_pi_agent_role_installs_a_release_from_the_installed_collection_alone(installed, tmp_path):
    """The role builds the release wheel from the agent sources inside the installed collection
    and installs it into a scratch root: current -> releases/<version>, config rendered."""
    root, workdir, env = installed
    target = tmp_path / "client-root"
    target.mkdir()
    play = workdir / "install-agent.yml"
    play.write_text(json.dumps([{
        "name": "Install the agent from the installed collection",
        "hosts": "localhost",
        "gather_facts": False,
        "roles": [{"role": "infoscreen.fleet.pi_agent"}],
    }]))
    extra = {"pi_agent_system_integration": False, "pi_agent_target_root": str(target),
             "pi_agent_build_version": "1.0.0+installed", "pi_agent_mqtt_host": "127.0.0.1",
             "client_uuid": UUID, "infoscreen_mqtt_password": "not-a-real-secret",
             "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    result = run("ansible-playbook", "-i", "localhost,", str(play), "-e", json.dumps(extra), cwd=workdir, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    install = target / "opt" / "infoscreen-agent"
    assert os.readlink(install / "current") == "releases/1.0.0+installed"
    assert (install / "releases" / "1.0.0+installed" / ".complete").read_text().strip() == "1.0.0+installed"
    assert (target / "etc" / "infoscreen-agent" / "agent.ini").is_file()
    assert str(ROOT) not in (result.stdout + result.stderr), "the run reached into the checkout"
