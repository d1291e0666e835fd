"""CSV import of accounts, contacts, interactions and daily usage aggregates."""
