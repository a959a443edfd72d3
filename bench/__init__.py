"""Benchmarks: ``python -m bench`` (the bot against fakes on 127.0.0.1, with an echo floor)."""
