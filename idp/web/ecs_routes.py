"""``GET /ecs/TASK_ID/credentials``: the container credentials twin of each task.

``AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8000/ecs/billing-task/credentials``
with ``AWS_CONTAINER_AUTHORIZATION_TOKEN=billing-task-token`` makes an unmodified boto3
fetch the task role's credentials (botocore accepts a loopback host for a full URI). The
answers are ``Workloads.container_credentials``'s; this route passes the task ID and the
``Authorization`` header. Other paths under ``/ecs/`` are 404 and other methods 405, with
the plain-text bodies the Go-based agents write.
"""

from __future__ import annotations

from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from idp.web.state import services

__all__ = ["routes"]

METHODS: Final = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]


async def credentials(request: Request) -> Response:
    if not request.scope["path"].endswith("/credentials"):  # ``…/credentials\n``
        return await not_found(request)
    if request.method not in ("GET", "HEAD"):
        return PlainTextResponse("Method Not Allowed\n", 405, headers={"Allow": "GET, HEAD"})
    # In the thread pool: the IAM state comes from the shared store (SQLite or Redis I/O).
    answer = await run_in_threadpool(services(request).workloads.container_credentials,
                                     request.path_params["task_id"],
                                     request.headers.get("authorization"))
    return JSONResponse(answer.body, status_code=answer.status)


async def not_found(request: Request) -> Response:
    return PlainTextResponse("404 page not found\n", 404)


def routes() -> list[Route]:
    return [
        Route("/ecs/{task_id}/credentials", credentials, methods=METHODS, name="ecs_credentials"),
        Route("/ecs", not_found, methods=METHODS, name="ecs_root"),
        Route("/ecs/{rest:path}", not_found, methods=METHODS, name="ecs_other"),
    ]
