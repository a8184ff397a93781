"""A local push endpoint for the Gmail push tests: records each POST, answers scripted statuses."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """Records (Authorization, JSON body) of each POST; answers ``statuses`` in turn, then 204."""

    url: str = ""
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def notifications(self) -> list[dict[str, Any]]:
        """The decoded Gmail notifications ({emailAddress, historyId}) received, in order."""
        return [dict(json.loads(base64.b64decode(body["message"]["data"]))) for _, body in self.received]


@contextmanager
def receiving() -> Iterator[Receiver]:
    """Serve a Receiver on 127.0.0.1 for the duration of the block."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append((self.headers.get("Authorization", ""), json.loads(body)))
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/push"
    try:
        yield state
    finally:
        server.shutdown()
