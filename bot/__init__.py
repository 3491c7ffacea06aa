"""Rahnuma's gateway: the Telegram and SMS front doors in front of Rasa.

Modules here that the Rasa environment also imports (``segments``) use the
standard library only.
"""
