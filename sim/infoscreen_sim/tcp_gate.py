"""A TCP gate in front of the broker (harness fault injection): ``close()`` cuts every
connection through it and refuses new ones until ``open()``, so one party - here the
controller - goes offline while everyone else stays connected to the broker directly."""

import socket
import threading


class TcpGate:
    def __init__(self, host, port):
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()
        self._open = True
        self._pairs = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stopped:
            try:
                conn, _addr = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._open:
                    conn.close()
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    conn.close()
                    continue
                upstream.settimeout(None)
                self._pairs.append((conn, upstream))
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        """Cut every connection through the gate and refuse new ones."""
        with self._lock:
            self._open = False
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def open(self):
        with self._lock:
            self._open = True

    def stop(self):
        self._stopped = True
        self.close()
        self._listener.close()
