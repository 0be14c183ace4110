"""Registers every shared fixture module in tests/fixtures/ (one file per area)."""

import pathlib

pytest_plugins = sorted(
    f"fixtures.{path.stem}"
    for path in (pathlib.Path(__file__).parent / "fixtures").glob("*.py")
    if not path.name.startswith("_")
)
