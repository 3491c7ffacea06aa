"""``python -m bot.hotline.health``: exit 0 when this container's relay is working, else 1.

The container health check (``docker-compose.yml``; a Kubernetes liveness probe runs the same
command). It reads the relay's own metrics (``RELAY_METRICS_PORT``) and checks that the work
loop finished a round within ``RELAY_STALE_SECONDS``: a relay that is up but stuck, or whose
Redis is gone, is unhealthy too, not only one that stopped. Standard library only, so the
probe stays cheap; prints one line saying why.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from typing import Optional

GAUGE = "rahnuma_relay_heartbeat_timestamp_seconds"


def heartbeat(port: int) -> Optional[float]:
    """When the relay on ``port`` last finished a round (None: it has not yet)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(GAUGE + " "):
                value = float(line.split()[1])
                return value if value > 0 else None
    return None


def main() -> int:
    """The probe."""
    port = int(os.environ.get("RELAY_METRICS_PORT", "9108"))
    stale = float(os.environ.get("RELAY_STALE_SECONDS", "60"))
    try:
        beat = heartbeat(port)
    except (OSError, urllib.error.URLError, ValueError) as error:
        print(f"relay unhealthy: its metrics on port {port} do not answer ({error})")
        return 1
    if beat is None:
        print("relay unhealthy: no round finished yet")
        return 1
    age = time.time() - beat
    if age > stale:
        print(f"relay unhealthy: last round {age:.0f} s ago (RELAY_STALE_SECONDS={stale:.0f})")
        return 1
    print(f"relay healthy: last round {age:.1f} s ago")
    return 0


if __name__ == "__main__":
    sys.exit(main())
