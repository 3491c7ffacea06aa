"""``python -m bot``: the gateway, configured from the environment and ``.env``."""

from __future__ import annotations

import sys

import uvicorn

from bot.app import create_app
from bot.logs import configure
from bot.settings import load_or_explain


def main() -> int:
    """Starts the gateway; a bad setting ends it with a one-line message, not a traceback."""
    settings = load_or_explain("rahnuma gateway")
    if settings is None:
        return 2
    configure(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
