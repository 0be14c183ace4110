"""One controller process of the shared-ledger tests (test_shared_ledger.py): rounds of
reboot_host waves over its hosts, with the ledger of $INFOSCREEN_LEDGER (a SQLite file or a
postgresql:// URL), run from its own working directory. Prints one JSON line per round:
``{"round": n, "states": {host: state}, "error": null or the wave's ledger error}``."""

import json
import sys
import time

from ansible_collections.infoscreen.fleet.plugins.module_utils.ledger import Ledger, LedgerError
from ansible_collections.infoscreen.fleet.plugins.plugin_utils.wave_driver import WaveOptions, run_wave


def main():
    config = json.loads(sys.argv[1])
    hosts = [tuple(pair) for pair in config["hosts"]]
    with Ledger() as ledger:
        for number in range(config["rounds"]):
            options = WaveOptions("reboot_host", timeout_s=config["timeout_s"], progress_interval_s=60,
                                  lockout_limit=config["limit"], lockout_window_s=config["window_s"],
                                  cooldown_s=0, validity_s=config["timeout_s"], track_health=False)
            error = None
            try:
                wave = run_wave(hosts, options, ledger, config["mqtt"])
                results = wave.results
            except LedgerError as exc:
                error = str(exc)
                results = exc.wave.results if getattr(exc, "wave", None) else {}
            print(json.dumps({"round": number, "states": {h: r["state"] for h, r in results.items()},
                              "error": error}), flush=True)
            time.sleep(config.get("pause_s", 0))


if __name__ == "__main__":
    main()
