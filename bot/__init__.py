"""Rahnuma's gateway process: the Telegram and SMS front doors in front of Rasa, and the relay.

    bot/channels/      the front doors: Telegram, SMS, and the Twilio sender they share
    bot/conversation/  taking messages in once and in order, answering, delivering
    bot/hotline/       staff commands and the reporter handoff, staff cards, the relay
    bot/app.py         the ASGI app: routes, and ``build``, which makes the object graph

Runs in the gateway environment only. What the Rasa environment shares with it
(the report store, sealing, segment arithmetic, languages…) is in ``contract/``.
"""
