"""Size limits of the providers Rahnuma talks to, named once.

The gateway shapes messages to them, the relay cuts staff cards to them,
and the local fakes in ``dev/`` enforce them as the real services do.
"""

from __future__ import annotations

TELEGRAM_MAX_TEXT = 4096  # characters in one Bot API sendMessage
TELEGRAM_MAX_CALLBACK_BYTES = 64  # bytes of a button's callback_data
TWILIO_MAX_CHARS = 1600  # characters in one Twilio message body
