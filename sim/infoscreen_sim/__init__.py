"""Simulated infoscreen fleet: local broker, simulated Pi clients running the real agent."""
