"""Who may do what: users, browser sessions, API keys and secrets."""
