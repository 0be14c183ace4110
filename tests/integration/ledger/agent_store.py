"""What an agent executed, read from its own state files (the dedupe store, agent/infoscreen_agent/store.py)."""

from infoscreen_agent.store import read_entries


def executed_commands(state_dir):
    """{command_id: entry} of every command this agent ran its helper for."""
    return {cid: entry for cid, entry in read_entries(str(state_dir)).items() if entry.get("executed_at")}
