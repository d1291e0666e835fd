"""The weekly action list per CSM, its feedback, and the Monday digest."""
