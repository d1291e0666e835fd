"""The service layer: transactions and queries shared by the JSON API, the pages and the CLI.

Services take a session and keyword-only inputs, flush when they need an id, and never commit:
the caller (one place per request, or the CLI's unit of work) does.
"""
