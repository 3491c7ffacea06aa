"""Where the data both environments read lives: the deployer's content and the catalogs.

``RAHNUMA_CONTENT_DIR`` and ``RAHNUMA_LOCALES_DIR`` point a process (or a test) at
another copy; otherwise the folders beside the code, as both images lay them out.
Read on every call, never cached, so a test can change them.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def content_dir() -> Path:
    """content/: helplines, offices, fees, promoters, topic titles."""
    return Path(os.environ.get("RAHNUMA_CONTENT_DIR") or ROOT / "content")


def locales_dir() -> Path:
    """locales/: the gettext catalogs (``make compile`` builds the .mo files)."""
    return Path(os.environ.get("RAHNUMA_LOCALES_DIR") or ROOT / "locales")
