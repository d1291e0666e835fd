"""Stages, signals, rule sets, playbooks and the tasks they make; the daily lifecycle run."""
