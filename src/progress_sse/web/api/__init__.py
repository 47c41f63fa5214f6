"""HTTP layer: routes, the event stream, and the one error handler."""
