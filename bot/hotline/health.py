"""``python -m bot.hotline.health``: exit 0 when this container's relay is working, else 1.

The container health check (``docker-compose.yml``; a Kubernetes liveness probe runs the same
command). It reads the relay's own metrics (``RELAY_METRICS_PORT``, with the relay's settings)
and checks that the work loop finished a round within ``RELAY_STALE_SECONDS``: a relay that is
up but stuck, or whose Redis is gone, is unhealthy too, not only one that stopped. Prints one
line saying why.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import load_or_explain

GAUGE = "rahnuma_relay_heartbeat_timestamp_seconds"


def heartbeat(port: int) -> Optional[float]:
    """When the relay on ``port`` last finished a round (None: it has not yet)."""
    exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=3).text
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == GAUGE:
                return sample.value if sample.value > 0 else None
    return None


def main() -> int:
    """The probe."""
    settings = load_or_explain("rahnuma relay health")
    if settings is None:
        return 1
    port, stale = settings.relay_metrics_port, settings.relay_stale_seconds
    try:
        beat = heartbeat(port)
    except (httpx.HTTPError, ValueError) as error:
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
