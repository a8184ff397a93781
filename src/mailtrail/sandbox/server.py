"""Run ASGI apps on 127.0.0.1 with uvicorn in background threads (tests, benchmarks and the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import uvicorn

from mailtrail.sandbox.store import Tenant


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Threads cannot own signal handlers; the host process keeps its own."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningApp:
    """One app served by uvicorn on a thread; ``base_url`` is where it listens."""

    def __init__(
        self, app: Any, port: int = 0, log_level: str = "warning", tls: tuple[str, str] | None = None,
        *, lifespan: bool = False,
    ) -> None:  # fmt: skip
        """``tls`` is (certificate file, key file) to serve https (msal wants an https authority);
        ``lifespan`` runs the app's startup and shutdown (mailtrail's own app starts its jobs there)."""
        self.port = port or _free_port()
        self.scheme = "https" if tls else "http"
        certfile, keyfile = tls or (None, None)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level=log_level,
            # Logging is the process's (mailtrail.logs): uvicorn must not install handlers of its own.
            log_config=None,
            lifespan="on" if lifespan else "off",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        self.server = _QuietServer(config)
        self.thread = threading.Thread(target=self.server.run, name=f"sandbox-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@contextmanager
def serve(apps: Mapping[str, Any], ports: Mapping[str, int] | None = None) -> Iterator[dict[str, str]]:
    """Serve each named app on its own port (random unless given); yields ``{name: base URL}``."""
    running = {name: RunningApp(app, (ports or {}).get(name, 0)) for name, app in apps.items()}
    try:
        for server in running.values():
            server.start()
        yield {name: server.base_url for name, server in running.items()}
    finally:
        for server in running.values():
            server.stop()


class DeliveryTicker:
    """Releases scheduled deliveries on the real clock (the CLI), checking every ``interval`` seconds."""

    def __init__(self, tenant: Tenant, interval: float = 0.5) -> None:
        self.tenant, self.interval = tenant, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-deliveries", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tenant.release_due()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
