"""Deterministic demo data, written through the services so it is always valid."""
