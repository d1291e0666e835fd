"""Expansion opportunities: the upsell pipeline and its suggestions."""
