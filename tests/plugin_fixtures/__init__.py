"""Job kinds named by `PROGRESS_SSE_JOBS` in tests (`module:attribute`)."""
