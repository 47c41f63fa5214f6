"""An example progress-sse job package: a batched, resumable copy of a legacy system's tables."""
