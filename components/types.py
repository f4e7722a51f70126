"""Artifact types of lmpipe's own components."""

from tfx.types import artifact


class WordPieceVocab(artifact.Artifact):
    """A WordPiece vocabulary: `features.VOCAB_FILE` (`vocab.txt`) in the artifact's uri, one
    token per line, id = line.

    The first entries are always `[PAD] [UNK] [CLS] [SEP] [MASK]` (see models/features.py).
    """

    # KFP v2 specs need "namespace.Name" and take custom types without typed PROPERTIES: the
    # size is a custom property `vocab_size`.
    TYPE_NAME = "lmpipe.WordPieceVocab"

