"""A TCP forwarder between services under test and the machine's RabbitMQ, so a test can take
"the broker" away from them without restarting the RabbitMQ other test runs share.

`cut()` behaves like a stopped broker: every open connection is closed and new ones are refused
(the listening socket is closed, so a connect gets ECONNREFUSED). `restore()` listens again on
the same port. `pause()` behaves like a broker that stopped answering, or a network that drops
every packet without a reset (a half-open connection): connections stay open and whatever is
sent is accepted, but nothing is passed on in either direction until `resume()`.

The forwarder runs in a process of its own (`python -m tests.broker_proxy HOST PORT`), with
plain OS threads: in the eventlet-patched test process, closing a socket another green thread
is reading trips the hub when the file descriptor is reused. It prints the port it listens on,
then obeys one command per line on stdin (`cut`, `restore`, `pause`, `resume`), answering `ok`
to each."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from urllib.parse import urlsplit, urlunsplit


class BrokerProxy:
    """The test's handle on a forwarder process."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5672):
        self.target = (target_host, target_port)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.is_cut = False

    def start(self) -> BrokerProxy:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.broker_proxy", *map(str, self.target)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        return self

    def cut(self) -> None:
        self._command("cut")
        self.is_cut = True

    def restore(self) -> None:
        self._command("restore")
        self.is_cut = False

    def pause(self) -> None:
        self._command("pause")

    def resume(self) -> None:
        self._command("resume")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def uri(self, amqp_uri: str) -> str:
        """`amqp_uri` (pointing at the real broker) rewritten to go through this proxy."""
        parts = urlsplit(amqp_uri)
        credentials = parts.netloc.rpartition("@")[0]
        address = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{credentials}@{address}" if credentials
                                         else address))

    def _command(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(f"broker proxy answered {answer!r} to {command!r}")


class Forwarder:
    """The forwarding itself (in the proxy process)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        #: cleared while paused: the pumps hold what they read instead of passing it on
        self.flowing = threading.Event()
        self.flowing.set()

    def listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            _close(listener)
        with self.lock:
            sockets, self.open = self.open, set()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self.lock:
                if self.listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self.open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # a close is passed on like data: never while paused (a half-open connection's
            # peer learns nothing); then shut both down (that wakes the other pump) and close
            self.flowing.wait()
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                self.open.discard(source)
                self.open.discard(sink)
            source.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def main() -> None:
    forwarder = Forwarder((sys.argv[1], int(sys.argv[2])))
    forwarder.listen()
    print(forwarder.port, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "cut":
            forwarder.cut()
        elif command == "restore":
            forwarder.listen()
        elif command == "pause":
            forwarder.flowing.clear()
        elif command == "resume":
            forwarder.flowing.set()
        else:
            print(f"unknown command {command}", flush=True)
            continue
        print("ok", flush=True)


if __name__ == "__main__":
    main()
