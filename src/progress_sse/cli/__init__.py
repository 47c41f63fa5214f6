"""The `progress-sse` command line: operator commands on the database, `runs` over HTTP."""
