"""Middleware: the access log and limits on the request itself."""
