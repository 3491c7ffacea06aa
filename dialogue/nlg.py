"""Rasa's responses rendered inside the Rasa process (``nlg: type: dialogue.nlg.LocalizedNLG``).

The rendering is ``actions/nlg.py``'s (the user's language from the gettext
catalogs, the channel's form, the directory's numbers); this class only calls
it in process. Rasa's ``callback`` NLG posts every response to an HTTP endpoint
with the whole tracker serialised to JSON, which the turn profile
(docs/turn-profile.md) found to be one of the largest costs of a turn, growing
with the length of the conversation. Rendering needs only the slot values.

Never logs message text or slot values.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from actions.nlg import Renderer, render_response, renderer


class LocalizedNLG(NaturalLanguageGenerator):
    """Renders the model's responses in the conversation's language and channel form."""

    def __init__(
        self, endpoint_config: Optional[EndpointConfig] = None, domain: Optional[Domain] = None
    ) -> None:
        # The trained model's domain is the truth; domain.yml only when there is none.
        responses = domain.responses if domain is not None else {}
        self._renderer = Renderer(responses) if responses else renderer()

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> Optional[Dict[str, Any]]:
        """The response ``utter_action`` as Rasa's NLG clients return it."""
        return render_response(utter_action, tracker.current_slot_values(), kwargs, self._renderer)
