"""Who is asking: API keys, browser sessions and rate limits."""
