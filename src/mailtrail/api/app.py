"""The FastAPI app: each domain's routers, the process's ``Runtime`` on ``app.state``, and who runs the jobs.

``jobs`` says where the sync jobs of this process go: ``in-process`` runs them here (the embedded default on
SQLite, which procrastinate cannot serve), ``queue`` defers them to procrastinate for ``mailtrail worker``
processes (PostgreSQL), ``none`` runs none (tests of the endpoints alone). By default the database decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI

from mailtrail.api.errors import install_error_handlers
from mailtrail.auth.endpoints import router as auth_router
from mailtrail.sync.endpoints import router as sync_router
from mailtrail.sync.jobs import SYNC_TASK, InProcessRunner, defer, job_app
from mailtrail.sync.runtime import Runtime

Jobs = Literal["in-process", "queue", "none"]


def create_app(runtime: Runtime, jobs: Jobs | None = None) -> FastAPI:
    chosen: Jobs = jobs or ("in-process" if runtime.database.dialect.name == "sqlite" else "queue")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if chosen == "in-process":
            runner = InProcessRunner(runtime.engine, runtime.dispatcher, runtime.settings.sync_concurrency)
            app.state.runner = runner

            async def wake(_ids: list[int]) -> None:
                runner.wake()

            runtime.wake = wake
            stop = asyncio.Event()
            running = asyncio.create_task(runner.run(stop))
            try:
                yield
            finally:
                stop.set()
                await running
        elif chosen == "queue":
            queue = job_app(runtime.settings.database_url, runtime.engine, runtime.dispatcher)
            async with queue.open_async():

                async def enqueue(ids: list[int]) -> None:
                    for mailbox_id in ids:
                        await defer(queue, SYNC_TASK, mailbox_id)

                runtime.wake = enqueue
                yield
        else:
            yield
        runtime.wake = None

    app = FastAPI(title="mailtrail", openapi_url="/api/v1/openapi.json", lifespan=lifespan)
    app.state.runtime = runtime
    app.include_router(sync_router)
    app.include_router(auth_router)
    install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
