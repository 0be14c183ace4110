"""Run the REAL agent on a simulated Pi: ``python -m infoscreen_sim.agent_runner``.

    python -m infoscreen_sim.agent_runner --power-request FILE [--app-state FILE] \
        [--fault helper_fails] [--fault drops_acks] --config agent.ini [--config ...] run

The runner's own options come first; everything else is the agent's command line, handed
unchanged to ``infoscreen_agent.cli.main`` with the simulated machine (sim_power.py) as the
power backend and the client's injected faults (agent_faults.py). So a simulated client
runs exactly the agent a Pi runs - the installed release's, when the fleet starts the
runner with that release's Python (supervisor.py) - and differs only in its hardware.
"""

import argparse
import inspect
import sys

from .agent_faults import AGENT_FAULTS, backend_factory, client_wrapper


def _parser():
    parser = argparse.ArgumentParser(prog="python -m infoscreen_sim.agent_runner", allow_abbrev=False,
                                     description=__doc__.partition("\n")[0])
    parser.add_argument("--power-request", required=True, metavar="FILE",
                        help="where the agent's reboot/shutdown requests go (the supervisor watches it)")
    parser.add_argument("--app-state", default="", metavar="FILE", help="the signage app's state file")
    parser.add_argument("--fault", action="append", default=[], choices=AGENT_FAULTS,
                        help="inject a fault into this agent (repeatable)")
    return parser


def main(argv=None):
    args, agent_argv = _parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    from infoscreen_agent import cli  # noqa: PLC0415 - the release's agent, whichever Python runs us

    if "backend_factory" not in inspect.signature(cli.main).parameters:
        print(f"agent_runner: the agent at {cli.__file__} predates the embedding seam (docs/agent.md "
              "'Embedding the agent', issue 14); the simulated fleet cannot run it", file=sys.stderr)
        return 2
    faults = set(args.fault)
    return cli.main(agent_argv, backend_factory=backend_factory(args.power_request, args.app_state, faults),
                    wrap_client=client_wrapper(faults))


if __name__ == "__main__":
    sys.exit(main())
