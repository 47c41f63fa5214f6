"""Streaming: from a run's new events to every watcher (broker, hub, the SSE response)."""
