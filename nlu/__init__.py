"""Rahnuma's NLU: training data under ``nlu/data/``, custom pipeline components here.

The components are plain functions wrapped in thin Rasa ``GraphComponent``
classes, so the text logic can be tested without training a model.
"""
