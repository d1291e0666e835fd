"""Segment-format traffic in: the door's checks, the log, the applier, sources and dead letters."""
