"""Product usage as stored: daily rollups, presence, aggregates pushed from a warehouse, the
feature catalog.
"""
