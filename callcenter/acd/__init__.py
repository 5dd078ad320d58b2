"""Queues, agents and routing (automatic call distribution)."""
