"""``python -m dev.balancer``: spreads HTTP requests over several copies of a service.

The production topology on one machine (``dev/topology.py``) runs two gateways and two
Rasa processes, as ``docker-compose.yml`` does; in a deployment nginx (``deploy/nginx.conf``)
spreads webhooks over the gateways and Docker's DNS or a Kubernetes Service spreads the
gateways' calls over the Rasa replicas. This stands in for them, with the behaviour the
tests rely on: each request goes to the next copy in turn, and a copy that refuses the
connection is skipped for the next one (nginx's ``proxy_next_upstream error``); a request
that reached a copy is never sent twice, so a copy that dies mid-request gives a 502, as
nginx does.

    python -m dev.balancer --port 8080 --to http://127.0.0.1:8081 --to http://127.0.0.1:8082

Hand-written because nginx or HAProxy would be one more system package for the machine's
set-up to install for tests alone; this is Starlette and httpx, already in the gateway's
environment. Never part of a deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import sys
from typing import AsyncIterator, List, Optional

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

logger = logging.getLogger("balancer")

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
)
TIMEOUT = httpx.Timeout(120.0, connect=2.0)


def create_balancer(backends: List[str]) -> Starlette:
    """The proxy app: round robin over ``backends``, skipping those that refuse connections."""
    turn = itertools.cycle(range(len(backends)))
    client = httpx.AsyncClient(timeout=TIMEOUT)

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        first = next(turn)
        for offset in range(len(backends)):
            backend = backends[(first + offset) % len(backends)]
            try:
                answer = await client.request(
                    request.method, backend + path, content=body, headers=headers
                )
            except httpx.ConnectError:
                continue  # this copy is down: the next one
            except httpx.HTTPError as error:
                logger.warning("%s failed mid-request: %s", backend, type(error).__name__)
                return Response("upstream failed\n", status_code=502)
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            kept.pop("content-encoding", None)  # httpx decoded the body
            return Response(answer.content, status_code=answer.status_code, headers=kept)
        return Response("no upstream answers\n", status_code=502)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the balancer until stopped."""
    parser = argparse.ArgumentParser(description="Round-robin HTTP balancer for local tests.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to", action="append", required=True, help="a backend base URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    backends = [url.rstrip("/") for url in args.to]
    logger.info("on 127.0.0.1:%d for %s", args.port, ", ".join(backends))
    app = create_balancer(backends)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
