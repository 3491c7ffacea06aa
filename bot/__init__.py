"""Rahnuma's gateway: the Telegram and SMS front doors in front of Rasa.

Modules here that the Rasa environment also imports use the standard library
only (``segments``) or redis and cryptography (``reports``, which the action
server uses to store trafficking reports).
"""
