"""Runs: their statuses, events and ids, the run store, and what ends runs nobody finishes."""
