"""Rahnuma's custom actions (rasa-sdk), one module per feature.

Actions never log message text, descriptions or contact details: only
intent names, slot names and reference codes.
"""
