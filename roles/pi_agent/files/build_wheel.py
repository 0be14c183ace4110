"""Build the infoscreen-agent wheel and its wheelhouse on the controller.

Runs on the controller (delegated by the pi_agent role, once per play).

Build: copies only what the wheel is made of (pyproject.toml, the agent package, the
contract package) to a temporary directory, so the checkout gets no build/ or egg-info
litter; with --version rewrites ``__version__`` there (how tests make two distinct
releases A and B from one tree); builds with pip. Wheels are cached under
OUT/<version>/<content hash>/, so an unchanged tree is not rebuilt.

Wheelhouse (--platform): downloads binary wheels of the agent's dependencies for the
client's machine and Python into OUT/deps/<hash of requirements, platform, python>/, so
clients install with --no-index and never need PyPI. Cached the same way.

Prints one JSON object: {"wheel": path, "version": version, "deps": dir or ""}; on error
{"failed": true, "msg": ...} and exit status 1.
"""

import argparse
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

PARTS = ("pyproject.toml", "agent/infoscreen_agent", "plugins/module_utils/contract")
VERSION_LINE = re.compile(r'^__version__\s*=\s*["\'][^"\']*["\']', re.MULTILINE)
# PEP 440 public version with an optional local label, in the normalised form pip uses.
VERSION_OK = re.compile(
    r"^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$"
)
WHEEL_NAME = re.compile(r"^infoscreen_agent-([^-]+)-.*\.whl$")
COMPLETE = ".complete"


class BuildError(Exception):
    pass


def can_build_offline():
    """True when the controller's own setuptools can build wheels (bdist_wheel available)."""
    try:
        import setuptools  # noqa: PLC0415
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401, PLC0415
    except ImportError:
        major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
        return (major, minor) >= (70, 1)
    return True


def stage_tree(source, tree, version):
    """Copy the wheel's sources to ``tree``, rewrite the version; return a content hash."""
    for part in PARTS:
        src = source / part
        if not src.exists():
            raise BuildError(f"pi_agent_build_source={source} is not an infoscreen-fleet checkout: {part} is missing")
        dst = tree / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    init = tree / "agent/infoscreen_agent/__init__.py"
    if version:
        text = init.read_text(encoding="utf-8")
        if not VERSION_LINE.search(text):
            raise BuildError(f"{source}/agent/infoscreen_agent/__init__.py has no __version__ line to rewrite")
        init.write_text(VERSION_LINE.sub(f'__version__ = "{version}"', text, count=1), encoding="utf-8")
    digest = hashlib.sha256()
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def find_wheel(directory):
    wheels = sorted(pathlib.Path(directory).glob("infoscreen_agent-*.whl"))
    return wheels[0] if len(wheels) == 1 else None


def build(source, version, out):
    source = pathlib.Path(source).resolve()
    if version and not VERSION_OK.match(version):
        raise BuildError(f"pi_agent_build_version={version!r} is not a normalised PEP 440 version "
                         "(e.g. 1.0.1 or 1.0.0+b)")
    with tempfile.TemporaryDirectory(prefix="infoscreen-agent-build-") as tmp:
        tree = pathlib.Path(tmp) / "src"
        content = stage_tree(source, tree, version)
        cached = list(pathlib.Path(out).glob(f"*/{content}/{COMPLETE}"))
        if cached:
            wheel = find_wheel(cached[0].parent)
            if wheel:
                return wheel
        wheels = pathlib.Path(tmp) / "wheels"
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(tree)]
        if can_build_offline():
            # The controller's own setuptools: no download of an isolated build environment.
            cmd.insert(4, "--no-build-isolation")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"building the agent wheel failed: {proc.stderr.strip()[-2000:]}")
        wheel = find_wheel(wheels)
        if not wheel:
            raise BuildError(f"expected one infoscreen_agent wheel in {wheels}")
        got = WHEEL_NAME.match(wheel.name).group(1)
        if version and got != version:
            raise BuildError(f"pi_agent_build_version={version!r} became {got!r} in the wheel; "
                             f"use the normalised form {got!r}")
        return publish(out_dir=pathlib.Path(out) / got / content, files=[wheel])


def publish(out_dir, files):
    """Move ``files`` into ``out_dir`` as one unit (marker last); concurrent builders are fine."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    first = out_dir / files[0].name if files else out_dir
    if (out_dir / COMPLETE).exists():
        return first
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir.parent))
    for path in files:
        shutil.copy2(path, staging / path.name)
    (staging / COMPLETE).write_text("ok\n", encoding="utf-8")
    try:
        os.rename(staging, out_dir)
    except OSError:
        # Another builder won the race with identical content.
        shutil.rmtree(staging, ignore_errors=True)
    return first


def requirements(wheel):
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode("utf-8")
    return sorted(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:"))


def download_deps(wheel, platform, python_version, out):
    """Fetch binary wheels of the agent's dependencies for the client's platform."""
    if not re.match(r"^[A-Za-z0-9_]+$", platform) or not re.match(r"^[0-9]+\.[0-9]+$", python_version):
        raise BuildError(f"cannot build a wheelhouse for machine {platform!r} / Python {python_version!r}; "
                         "set pi_agent_wheelhouse_python_version (X.Y) or pi_agent_wheelhouse: false")
    reqs = requirements(wheel)
    key = hashlib.sha256(json.dumps([reqs, platform, python_version]).encode()).hexdigest()[:16]
    out_dir = pathlib.Path(out) / "deps" / f"{platform}-py{python_version}-{key}"
    if (out_dir / COMPLETE).exists():
        return out_dir
    with tempfile.TemporaryDirectory(prefix="infoscreen-agent-deps-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", tmp,
               "--implementation", "cp", "--python-version", python_version]
        # Several tags so manylinux wheels of any vintage match Debian 12's glibc 2.36.
        for tag in ("manylinux_2_17", "manylinux2014", "manylinux_2_28", "manylinux_2_34", "linux"):
            cmd += ["--platform", f"{tag}_{platform}"]
        proc = subprocess.run(cmd + reqs, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"downloading the agent's dependencies for {platform}/Python {python_version} failed "
                             f"(set pi_agent_wheelhouse: false to let clients use their own index): "
                             f"{proc.stderr.strip()[-2000:]}")
        files = sorted(pathlib.Path(tmp).glob("*.whl"))
        publish(out_dir, files or [])
    return out_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="")
    parser.add_argument("--version", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--wheel", default="", help="a prebuilt wheel: do not build, only inspect it")
    parser.add_argument("--platform", default="", help="client machine (e.g. aarch64): also build the wheelhouse")
    parser.add_argument("--python-version", default="3.11", help="client Python X.Y for the wheelhouse")
    args = parser.parse_args()
    try:
        if args.wheel:
            wheel = pathlib.Path(args.wheel)
            if not wheel.is_file() or not WHEEL_NAME.match(wheel.name):
                raise BuildError(f"pi_agent_wheel={wheel} is not an infoscreen_agent-<version>-*.whl file "
                                 "on the controller")
            wheel = wheel.resolve()
        else:
            wheel = build(args.source, args.version, args.out)
        deps = download_deps(wheel, args.platform, args.python_version, args.out) if args.platform else ""
    except BuildError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        sys.exit(1)
    print(json.dumps({"wheel": str(wheel), "version": WHEEL_NAME.match(wheel.name).group(1), "deps": str(deps)}))


if __name__ == "__main__":
    main()
