"""Run and batch outcomes by email, through the webhook outbox (docs/mail.md)."""
