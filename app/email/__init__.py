"""Email: the outbox written with the action that causes it, and SMTP delivery."""
