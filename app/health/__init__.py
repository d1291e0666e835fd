"""Health models (versions, publishing), measure values, scores and their queue, backtests."""
