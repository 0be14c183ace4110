"""Fleet-scale and fault drills (issue 9): one runner, one table of measured figures.

Run ``python -m drills --help`` (or ``scripts/drills.sh``); the report is docs/drills.md.
Every drill starts its own real mosquitto (rendered by the mqtt_broker role), real agents
or the bench's light clients, on loopback, and stops them all before it returns.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The same import roots pytest uses (pyproject.toml: pythonpath), so the drills import the
# collection, the simulated fleet and the shared test helpers exactly as the tests do.
for _sub in ("tests", "sim", ".cache/collections"):
    _path = str(REPO / _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)
