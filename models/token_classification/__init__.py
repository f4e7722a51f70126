"""Task family: token classification (named entities)."""
