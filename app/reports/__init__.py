"""Adoption summaries, the reports emailed to customers, report schedules and tech-touch check-ins."""
