"""Pure logic: no I/O, no clock, no randomness, nothing imported from the rest of ``app``."""
