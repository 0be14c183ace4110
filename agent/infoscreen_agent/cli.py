"""Command line: ``infoscreen-agent [--config F ...] run | notify-service-failed UNIT | version |
check-config | hold --owner O --reason R [--for S | --until T] | release [--owner O] | hold-status``."""

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
    hold = sub.add_parser("hold", help="set the local hold: reboot-class commands wait for its release "
                                       "(within their validity and hold_max_wait_s), else fail busy")
    hold.add_argument("--owner", required=True, help="who holds (the signage app, a technician)")
    hold.add_argument("--reason", required=True, help="why the screen must not be disrupted now")
    hold.add_argument("--for", dest="for_s", type=float, metavar="SECONDS", help="the hold ends by itself after this")
    hold.add_argument("--until", metavar="RFC3339", help="the hold ends by itself at this time (with a time zone)")
    release = sub.add_parser("release", help="remove the local hold")
    release.add_argument("--owner", help="only if the hold is this owner's")
    status = sub.add_parser("hold-status", help="print the local hold in force (JSON), or 'no hold'")
    for one in (hold, release, status):
        one.add_argument("--path", help="the hold file (default: [agent] hold_path of the config)")
    return parser


def _hold_command(args):
    """hold / release / hold-status. --path needs no config (the signage app may not read agent.ini)."""
    import json  # noqa: PLC0415

    from .hold import HoldError, read_hold, release_hold, set_hold  # noqa: PLC0415

    path = args.path
    if not path:
        from .config import ConfigError, load  # noqa: PLC0415

        try:
            path = load(args.config).hold_path
        except ConfigError as exc:
            print(f"infoscreen-agent: {exc} (or pass --path)", file=sys.stderr)
            return 2
        if not path:
            print("infoscreen-agent: the local hold is off ([agent] hold_path is empty)", file=sys.stderr)
            return 2
    try:
        if args.command == "hold":
            body = set_hold(path, args.owner, args.reason, until=args.until, for_s=args.for_s)
            print(f"hold set at {path}: {json.dumps(body)}")
        elif args.command == "release":
            removed = release_hold(path, owner=args.owner)
            print(f"hold released at {path}: {json.dumps(removed)}" if removed else f"no hold at {path}")
        else:
            current = read_hold(path)
            print(json.dumps(current) if current else f"no hold at {path}")
    except HoldError as exc:
        print(f"infoscreen-agent: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"infoscreen-agent: {path}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


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
    if args.command in ("hold", "release", "hold-status"):
        return _hold_command(args)
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
