"""Command line: ``infoscreen-agent [--config F ...] run | notify-service-failed UNIT | version``."""

import argparse
import logging
import sys

from . import __version__

DEFAULT_CONFIG = "/etc/infoscreen-agent/agent.ini"


def _parser():
    parser = argparse.ArgumentParser(prog="infoscreen-agent", description="infoscreen-fleet Pi agent")
    parser.add_argument("--config", action="append", metavar="FILE",
                        help=f"agent INI file (default {DEFAULT_CONFIG}); repeat it to layer files, "
                             "a later one overriding single keys of an earlier one")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="connect to the broker and serve lifecycle commands (systemd Type=notify)")
    notify = sub.add_parser("notify-service-failed", help="publish a retained service_failed report for UNIT")
    notify.add_argument("unit")
    sub.add_parser("version", help="print the agent version")
    sub.add_parser("check-config", help="load the config, print problems, exit non-zero if unusable")
    return parser


def main(argv=None, *, backend_factory=None, wrap_client=None):
    """The ``infoscreen-agent`` program; returns its exit code.

    ``backend_factory(config)`` returns the power backend and ``wrap_client(client)`` wraps
    the agent's MQTT client (see Agent). The installed entry point passes neither, so the
    agent uses the helper; a test bench passes them to run this very agent on machines it
    plays itself (docs/agent.md "Embedding the agent").
    """
    args = _parser().parse_args(argv)
    args.config = args.config or [DEFAULT_CONFIG]
    if args.command == "version":
        print(__version__)
        return 0
    from .config import ConfigError, load  # noqa: PLC0415 - 'version' must work without a config

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"infoscreen-agent: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.ignored:
        logging.getLogger("infoscreen_agent").warning(
            "%s: ignoring setting(s) the agent does not know: %s; remove them (see docs/agent.md)",
            config.path, ", ".join(config.ignored))
    if args.command == "check-config":
        print(f"{' + '.join(args.config)}: ok" + (f" (ignored: {', '.join(config.ignored)})" if config.ignored else ""))
        return 0
    if args.command == "notify-service-failed":
        from .notify import publish_service_failed  # noqa: PLC0415

        return publish_service_failed(config, args.unit)
    from .agent import HAS_PAHO, Agent  # noqa: PLC0415

    if not HAS_PAHO:
        print("infoscreen-agent: paho-mqtt is missing: pip install 'paho-mqtt>=2.1,<3'", file=sys.stderr)
        return 3
    try:
        agent = Agent(config, backend=backend_factory(config) if backend_factory else None, wrap_client=wrap_client)
    except (OSError, ValueError) as exc:
        print(f"infoscreen-agent: cannot start: {exc}", file=sys.stderr)
        return 2
    return agent.run()
