"""The public event contract (v1) and the internal events between services.

Every model here is a CloudEvent ``data`` payload. A payload class names its CloudEvent
``type`` and its topic, so a producer never spells them twice.
"""
