"""Artifact types of lmpipe's own components."""

from tfx.types import artifact


class WordPieceVocab(artifact.Artifact):
    """A WordPiece vocabulary: `vocab.txt` in the artifact's uri, one token per line, id = line.

    The first entries are always `[PAD] [UNK] [CLS] [SEP] [MASK]` (see models/features.py).
    """

    TYPE_NAME = "WordPieceVocab"
    PROPERTIES = {"vocab_size": artifact.Property(type=artifact.PropertyType.INT)}


VOCAB_FILE = "vocab.txt"
