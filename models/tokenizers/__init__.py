"""Tokenizers in TensorFlow ops: WordPiece (tensorflow-text) and byte-level BPE."""
