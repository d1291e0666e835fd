"""Customer accounts and their contacts, history, industry tiers, timeline and the portfolio views read."""
