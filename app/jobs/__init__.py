"""Scheduled jobs' state: claimed before a run, recorded after it, read by admins and /readyz."""
