"""Webhooks: durable notifications when a run ends (outbox, retries, dead letters)."""
