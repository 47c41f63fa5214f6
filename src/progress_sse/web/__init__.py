"""The web layer: the app, its services, the JSON API, security and middleware."""
