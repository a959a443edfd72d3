"""The HTTP front (``python -m api``): the VisionCraft API that accepts the users' keys.

It checks keys and tiers kept by the bot (same services in ``bot/``, same ``storage/``) and
forwards to the upstream providers with the operator's credentials.
"""
