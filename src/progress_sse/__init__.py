"""progress-sse: durable job runs streamed to browsers over Server-Sent Events."""

__version__ = "0.1.0"
