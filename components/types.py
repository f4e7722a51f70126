"""Artifact types of lmpipe's own components."""

from tfx.types import artifact


class WordPieceVocab(artifact.Artifact):
    """A WordPiece vocabulary: `features.VOCAB_FILE` (`vocab.txt`) in the artifact's uri, one
    token per line, id = line.

    Beside it, `tokenizer_config.json` (cased or not); the special tokens are wherever the
    vocabulary puts them (models/tokenizers/wordpiece.py).
    """

    # KFP v2 specs need "namespace.Name" and take custom types without typed PROPERTIES: the
    # size is a custom property `vocab_size`.
    TYPE_NAME = "lmpipe.WordPieceVocab"



class ByteLevelBPEVocab(artifact.Artifact):
    """A byte-level BPE vocabulary (GPT-2's): `vocab.json` + `merges.txt` in the artifact's uri
    (or a checkpoint directory with them, or a `tokenizer.json`: models/tokenizers/bpe.py read_bpe)."""

    TYPE_NAME = "lmpipe.ByteLevelBPEVocab"


class GPT2Checkpoint(artifact.Artifact):
    """A GPT-2 checkpoint directory (models/checkpoints/gpt2.py: Hugging Face or lmpipe),
    brought in by an Importer so that lineage goes back to its path."""

    TYPE_NAME = "lmpipe.GPT2Checkpoint"


class BertCheckpoint(artifact.Artifact):
    """A BERT checkpoint directory from outside lmpipe (models/checkpoints/: a Hugging Face
    checkpoint, a keras-hub preset or an lmpipe model), brought in by an Importer so that
    lineage goes back to its path."""

    TYPE_NAME = "lmpipe.BertCheckpoint"
