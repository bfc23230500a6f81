"""Hooks: connections and clients only."""
