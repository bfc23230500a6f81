"""Triggers: async polling only, JSON-able kwargs, stable classpaths."""
