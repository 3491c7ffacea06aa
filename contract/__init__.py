"""The contract between Rahnuma's two environments: what the gateway and the Rasa side share.

The gateway and relay (``bot/``, Python 3.11, python-telegram-bot) and the
assistant with its action server (``actions/``, Rasa 3.6 on Python 3.10) run
in different environments and different images. What both must agree on
lives here, and only here, and both images copy this package **whole**:

- ``channels``   the channel names (``Channel``)
- ``languages``  the language codes and their names
- ``bidi``       how Latin text is isolated inside Urdu (right-to-left) text
- ``limits``     Telegram's and Twilio's size limits
- ``segments``   SMS segment arithmetic, as carriers bill it
- ``menus``      buttons as a numbered menu (SMS)
- ``directory``  helplines from the deployer's content/directory.yml (parsed YAML in)
- ``sealing``    encryption at rest (Fernet, with key rotation)
- ``paths``      where the content and the catalogs are (one override variable each)
- ``keys``       every Redis key the project writes, built in one place
- ``reports``    the durable report store the action server writes and the relay reads

The rule, enforced by ``tests/contract/test_rule.py`` in both environments:
these modules import the standard library, ``redis`` and ``cryptography``
only, and nothing else of the project outside ``contract``.
"""
