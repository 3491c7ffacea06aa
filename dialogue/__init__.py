"""Rasa-side infrastructure for the dialogue engine (tracker stores)."""
