"""``/imds/INSTANCE_ID/...``: the instance metadata twin of each instance in the directory.

``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:8000/imds/i-0123456789abcdef0`` makes
an unmodified boto3 (and the AWS CLI) fetch that instance's role credentials. The protocol is
``idp.aws.imds``; this route only hands it the method, the path and three headers, and writes
its answer. A PUT whose answer the hop limit drops is held, answering nothing, until the
client disconnects (or for ``HOLD_SECONDS``, then released with a 403 nobody is waiting for).
"""

from __future__ import annotations

import logging
from typing import Final

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.aws.imds import (
    HOLD_SECONDS,
    TOKEN_HEADER,
    TTL_HEADER,
    MetadataAnswer,
    MetadataRequest,
    MetadataService,
)
from idp.web.state import services

__all__ = ["routes"]

log = logging.getLogger("idp.workloads")

#: Every method a client may send: the protocol answers each (405 for most).
METHODS: Final = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
#: How often a held request checks whether its client has gone.
_POLL_SECONDS: Final = 0.05


async def _held(request: Request) -> bool:
    """Wait (bounded) for the client to give up; ``True`` if it did."""
    with anyio.move_on_after(HOLD_SECONDS):
        while not await request.is_disconnected():
            await anyio.sleep(_POLL_SECONDS)
        return True
    return False


async def metadata(request: Request) -> Response:
    instance_id = request.path_params["instance_id"]
    # From the decoded path itself: the route's pattern ends in ``$``, which also matches
    # before a final newline and would drop it from ``path_params``.
    full: str = request.scope["path"]
    prefix = f"/imds/{instance_id}"
    path = full[full.find(prefix) + len(prefix):].removeprefix("/")
    headers = request.headers
    # In the thread pool: credentials read the IAM state from the shared store (SQLite or
    # Redis I/O), which must not hold the event loop.
    answer: MetadataAnswer = await run_in_threadpool(
        MetadataService(services(request).workloads).answer, instance_id, MetadataRequest(
            method=request.method, path=path, token=headers.get(TOKEN_HEADER),
            ttl=headers.get(TTL_HEADER), forwarded="x-forwarded-for" in headers))
    if answer.dropped:
        gone = await _held(request)
        log.info("instance %s: token PUT answer dropped by the hop limit%s", instance_id,
                 "" if gone else f"; released after {HOLD_SECONDS:g} s")
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type,
                    headers=dict(answer.headers))


def routes() -> list[Route]:
    return [
        Route("/imds/{instance_id}", metadata, methods=METHODS, name="imds_root"),
        Route("/imds/{instance_id}/{path:path}", metadata, methods=METHODS, name="imds"),
    ]
