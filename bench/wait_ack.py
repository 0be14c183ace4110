"""Per-host wait of the benchmark baseline: resume a persistent MQTT session and wait for the
``completed`` (or ``failed``) ack of one command. Exit 0 on completed, 1 otherwise.

    python bench/wait_ack.py --host H --port P --user U --session ID --client-uuid UUID --command-id ID

The password comes from $BENCH_MQTT_PASSWORD (not the command line).
"""

import argparse
import json
import os
import sys
import threading

import paho.mqtt.client as mqtt


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    for name in ("--host", "--user", "--session", "--client-uuid", "--command-id"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    done = threading.Event()
    outcome = {}

    def on_connect(client, _userdata, _flags, _reason, _props):
        client.subscribe(f"infoscreen/{args.client_uuid}/commands/ack", qos=1)

    def on_message(_client, _userdata, message):
        ack = json.loads(message.payload)
        if ack.get("command_id") == args.command_id and ack.get("status") in ("completed", "failed"):
            outcome["status"] = ack["status"]
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.session, clean_session=False)
    client.username_pw_set(args.user, os.environ["BENCH_MQTT_PASSWORD"])
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    done.wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    print(outcome.get("status", "timeout"))
    return 0 if outcome.get("status") == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
