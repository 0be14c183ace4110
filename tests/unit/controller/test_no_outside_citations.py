"""Comments and docs cite only files in this repository: a reader of the collection (or of an
installed copy of it) must find every file a comment points at."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# Files of the team's working area outside the checkout that comments used to cite.
OUTSIDE = re.compile(r"DESIGN\.md|(?<![\w/.])shared/(?!README)|/work/|\bseeds/")


def test_no_tracked_file_cites_a_file_outside_the_repository():
    """Every tracked text file except the changelog history is free of such citations."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    me = Path(__file__).relative_to(REPO).as_posix()
    hits = []
    for name in files:
        if name.startswith(("changelogs/", "CHANGELOG", "artifacts/")) or name == me:
            continue
        path = REPO / name
        if path.suffix not in {".py", ".md", ".yml", ".yaml", ".j2", ".sh", ".cfg", ".toml", ".txt"}:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{name}:{number}: {line.strip()}")
    assert hits == []
