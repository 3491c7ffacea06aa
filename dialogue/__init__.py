"""Rasa-side infrastructure for the dialogue engine: tracker stores, the in-process NLG,
and a fix to Rasa's turn cost (``dialogue.speedups``).

Rasa imports this package when it loads the endpoints (``endpoints.yml`` and
``endpoints.redis.yml`` name ``dialogue.tracker_store`` and ``dialogue.nlg``),
so the fix is in place before the first message in every configuration.
"""

from dialogue import speedups

speedups.install()
