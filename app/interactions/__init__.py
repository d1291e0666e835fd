"""Interactions: meetings, emails, tickets, NPS answers, attendance and the rest, recorded once."""
