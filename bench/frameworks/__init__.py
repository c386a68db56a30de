"""The serving frameworks ``signstream bench server --against`` races: one folder each (pinned requirements, service).

Each framework runs in a venv of its own (``bench/against.py`` makes it), never in the project's: their
pins conflict with ours. Every service loads the bundle with ``common.load`` and answers with ``common.answer``
(the project's own predictor and answer model, the SavedModel through its serving signature, as our server).
"""
