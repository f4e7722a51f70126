"""Checkpoint formats read from elsewhere (one module per format) and the checks they share."""
