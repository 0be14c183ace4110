#!/usr/bin/env bash
# Offline stand-in for the pip bootstrap ansible-test downloads. Each sanity test runs in a
# virtualenv that ansible-test seeds with `get-pip-<version>.py` fetched from
# ci-files.testing.ansible.com, a host CI cannot reach; ansible-test first looks in its cache
# (~/.ansible/test/cache/get_pip_<version>.py, see ansible_test/_util/target/setup/
# requirements.py). This script puts there a stand-in that installs pip from its PyPI wheel
# (fetched with our own pip, i.e. from PyPI), taking get-pip's arguments. Source it or run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${INFOSCREEN_VENV:-$ROOT/.venv}/bin/python"
# The pip release the installed ansible-test asks for (get_venv_packages).
pip_version="$("$PY" - <<'PY'
import re, pathlib, ansible_test
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)"
cache="$HOME/.ansible/test/cache"
standin="$cache/get_pip_${pip_version//./_}.py"
wheel_dir="$cache/pip-wheels"
mkdir -p "$wheel_dir"
wheel="$(ls "$wheel_dir"/pip-"$pip_version"-py3-none-any.whl 2>/dev/null || true)"
if [ -z "$wheel" ]; then
  "$PY" -m pip download -q --no-deps --only-binary :all: -d "$wheel_dir" "pip==$pip_version"
  wheel="$wheel_dir/pip-$pip_version-py3-none-any.whl"
fi
cat >"$standin" <<PY
# Stand-in for get-pip-$pip_version.py, written by scripts/sanity-bootstrap.sh of
# infoscreen-fleet: installs pip $pip_version from its PyPI wheel instead of the bootstrap
# ansible-test would download. Takes get-pip's arguments (pip install options, packages,
# --no-setuptools / --no-wheel).
import runpy
import sys

WHEEL = "$wheel"
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.path.insert(0, WHEEL)  # pip runs from its own wheel, as get-pip.py does
# Only the wheel's folder (--no-index): ansible-test's own "pip==$pip_version" argument
# then resolves to that wheel.
sys.argv = ["pip", "install", "--disable-pip-version-check", "--no-index", "--find-links", "$wheel_dir", "pip==$pip_version", *args]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
echo "[sanity-bootstrap] $standin installs pip $pip_version from $wheel" >&2
