"""systemd Type=notify support over $NOTIFY_SOCKET with the standard library only."""

import os
import socket


class Notifier:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self.address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        # Keep-alive at half the watchdog period, as sd_watchdog_enabled() recommends.
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self):
        return self.address is not None

    def send(self, message):
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode("utf-8"), self.address)
        except OSError:
            return False
        return True

    def ready(self, status="connected"):
        return self.send(f"READY=1\nSTATUS={status}")

    def watchdog(self):
        return self.send("WATCHDOG=1")

    def stopping(self):
        return self.send("STOPPING=1")
