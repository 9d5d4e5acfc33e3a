"""qabot."""
