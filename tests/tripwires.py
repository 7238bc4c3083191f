"""Tripwires: a file, a FIFO and a loopback listener that record any use.

Used by the tests that prove the XML parser loads nothing. No strace: each
wire notices on its own.

* ``fifo``: a named pipe. Opening it for reading blocks until a writer
  appears, so a thread waits as the writer and records the moment someone
  opens it. The writer then closes at once (``blocking=False``: the reader
  sees end-of-file) or holds the pipe open without writing until
  :meth:`Tripwires.close` (``blocking=True``: a reader hangs, exactly as a
  parser reading a device would; the test must bound its wait and fail).
* ``secret``: a regular file whose unique content must never show up in a
  result or an error message.
* ``url``: a listening socket on 127.0.0.1; any accepted connection is
  recorded.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

__all__ = ["Tripwires"]


class Tripwires:
    """One set of wires in ``directory``; close them with :meth:`close`."""

    def __init__(self, directory: Path) -> None:
        self.marker = f"SECRET-{uuid.uuid4().hex}"
        self.secret = directory / "secret.txt"
        self.secret.write_text(f'<!ENTITY leak "{self.marker}">{self.marker}')
        self.fifo = directory / "wire.fifo"
        os.mkfifo(self.fifo)
        self.blocking_fifo = directory / "hold.fifo"
        os.mkfifo(self.blocking_fifo)
        self.opened: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(self.fifo, False), daemon=True),
            threading.Thread(target=self._watch, args=(self.blocking_fifo, True), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.setblocking(False)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/evil.dtd"
        self.connections = 0

    def _watch(self, path: Path, hold: bool) -> None:
        while not self._stop.is_set():
            fd = os.open(path, os.O_WRONLY)  # returns when a reader opens the pipe
            if self._stop.is_set():
                os.close(fd)
                return
            self.opened.append(str(path))
            if hold:
                self._stop.wait()
            os.close(fd)

    def poll(self) -> None:
        """Count connections that reached the listener since the last poll."""
        while True:
            try:
                conn, _ = self._listener.accept()
            except BlockingIOError:
                return
            self.connections += 1
            conn.close()

    @property
    def tripped(self) -> bool:
        """True once any wire noticed a use."""
        self.poll()
        return bool(self.opened) or self.connections > 0

    def close(self) -> None:
        """Stop the watchers (unblocking any reader still hanging) and the listener."""
        self._stop.set()
        for path, thread in zip((self.fifo, self.blocking_fifo), self._threads):
            # Release the watcher waiting in open() (and readers held open).
            # Again until it has ended: on a loaded machine the watcher may
            # not have reached its open() yet when the first release comes,
            # and would then wait there for good.
            for _ in range(500):  # bounded: 5 s
                if not thread.is_alive():
                    break
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                except OSError:
                    break
                os.close(fd)
                thread.join(timeout=0.01)
        self._listener.close()
