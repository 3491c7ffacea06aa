"""The gateway's exceptions, under one base class.

    GatewayError
     ├── ConfigError          a setting is missing or malformed (start-up only)
     ├── ForgedRequestError        a webhook failed its signature or secret check
     ├── RasaUnavailableError      Rasa did not answer in time, or answered with an error
     └── DeliveryError        Telegram or Twilio refused or could not take a reply

Callers catch the narrow type; ``bot/app.py`` maps them to HTTP answers in one
place. Messages never carry message text, phone numbers or chat ids.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A setting is missing or malformed."""


class ForgedRequestError(GatewayError):
    """A webhook call did not prove it came from Telegram or Twilio."""


class RasaUnavailableError(GatewayError):
    """Rasa is down, slow, or answered with an error."""


class DeliveryError(GatewayError):
    """A reply could not be handed to Telegram or Twilio.

    ``permanent`` means trying again cannot help (the number unsubscribed, the
    user blocked the bot): the outbox then gives up at once.
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
