"""infoscreen-fleet Pi agent."""

__version__ = "1.0.0"
