"""The controller-side wheel builder: versions, content cache, clear errors."""

import json
import pathlib
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
BUILDER = REPO / "roles" / "pi_agent" / "files" / "build_wheel.py"


def build(*args):
    proc = subprocess.run([sys.executable, str(BUILDER), *args], capture_output=True, text=True, check=False)
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheels")
    rc, result = build("--source", str(REPO), "--version", "7.7.7+unit", "--out", str(out))
    assert rc == 0, result
    return out, result


def test_version_is_rewritten_in_the_wheel_only(built):
    _out, result = built
    wheel = pathlib.Path(result["wheel"])
    assert result["version"] == "7.7.7+unit"
    assert wheel.name == "infoscreen_agent-7.7.7+unit-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        init = archive.read("infoscreen_agent/__init__.py").decode()
        names = archive.namelist()
    assert '__version__ = "7.7.7+unit"' in init
    assert "infoscreen_agent/contract/schemas/command.schema.json" in names
    assert "7.7.7" not in (REPO / "agent/infoscreen_agent/__init__.py").read_text()


def test_unchanged_tree_is_served_from_the_cache(built):
    out, first = built
    mtime = pathlib.Path(first["wheel"]).stat().st_mtime_ns
    rc, again = build("--source", str(REPO), "--version", "7.7.7+unit", "--out", str(out))
    assert rc == 0
    assert again["wheel"] == first["wheel"]
    assert pathlib.Path(again["wheel"]).stat().st_mtime_ns == mtime


def test_a_prebuilt_wheel_is_inspected_not_rebuilt(built):
    _out, first = built
    rc, result = build("--out", "/nonexistent", "--wheel", first["wheel"])
    assert rc == 0
    assert result == {"wheel": first["wheel"], "version": "7.7.7+unit", "deps": ""}


@pytest.mark.parametrize("version", ["1.0.0-b", "v1", "1.0 0", "1.0.0+B"])
def test_unnormalised_version_is_refused_by_name(tmp_path, version):
    rc, result = build("--source", str(REPO), "--version", version, "--out", str(tmp_path))
    assert rc == 1
    assert result["failed"] is True
    assert "pi_agent_build_version" in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_source_that_is_not_a_checkout_is_refused(tmp_path):
    rc, result = build("--source", str(tmp_path), "--out", str(tmp_path / "out"))
    assert rc == 1
    assert "pi_agent_build_source" in result["msg"]
    assert "pyproject.toml is missing" in result["msg"]


def test_missing_wheel_is_refused_by_name(tmp_path):
    rc, result = build("--out", str(tmp_path), "--wheel", str(tmp_path / "infoscreen_agent-1.0.0-py3-none-any.whl"))
    assert rc == 1
    assert "pi_agent_wheel=" in result["msg"]


def test_bad_wheelhouse_platform_is_refused(built):
    _out, first = built
    rc, result = build("--out", "/tmp", "--wheel", first["wheel"], "--platform", "x86_64;rm",
                       "--python-version", "3.11")
    assert rc == 1
    assert "pi_agent_wheelhouse" in result["msg"]
