"""Success plans: plans, goals, steps, progress, their history, and the shipped templates."""
