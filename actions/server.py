"""The action server.

``python -m actions.server --port 5055`` serves ``POST /webhook`` (custom
actions, exactly as ``rasa run actions``) and ``GET /health``, after checking
that every language's catalog is compiled (the actions render texts with them).
Response texts are rendered inside Rasa (``dialogue/nlg.py``), not here: an
HTTP round trip per response was one of the largest costs of a turn.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import List, Optional

from rasa_sdk.endpoint import create_app
from sanic import Sanic

from actions.i18n import TranslationError, catalog
from actions.nlg import renderer
from contract.languages import LANGUAGES

logger = logging.getLogger(__name__)


def build_app() -> Sanic:
    """The rasa-sdk app. Fails fast if a catalog is missing."""
    for language in LANGUAGES:
        catalog(language)  # raises TranslationError with the fix in the message
    renderer()
    return create_app("actions")


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
    logger.info("action server on http://%s:%d", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
