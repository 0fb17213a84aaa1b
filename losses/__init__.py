"""Training losses and their weighted combination."""
