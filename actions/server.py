"""The action server, with the NLG endpoint beside the actions.

``python -m actions.server --port 5055`` serves ``POST /webhook`` (custom
actions, exactly as ``rasa run actions``), ``GET /health`` and ``POST /nlg``
(the text of every response, see ``actions/nlg.py``). One process, so the
embedded default needs no extra service.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import List, Optional

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request

from actions.i18n import TranslationError, catalog
from actions.nlg import render_request, renderer
from contract.languages import LANGUAGES

logger = logging.getLogger(__name__)


def build_app() -> Sanic:
    """The rasa-sdk app plus the /nlg route. Fails fast if a catalog is missing."""
    for language in LANGUAGES:
        catalog(language)  # raises TranslationError with the fix in the message
    renderer()
    app = create_app("actions")

    async def nlg(request: Request) -> response.HTTPResponse:
        body = request.json
        if not isinstance(body, dict):
            return response.json({"error": "expected a JSON object"}, status=400)
        return response.json(render_request(body))

    app.add_route(nlg, "/nlg", methods=["POST"])
    return app


def main(argv: Optional[List[str]] = None) -> None:
    """Parses arguments and runs the server in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("ACTION_HOST", "127.0.0.1"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = build_app()
    except TranslationError as error:
        raise SystemExit(f"error: {error}") from error
    logger.info("action server with NLG on http://%s:%d", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
