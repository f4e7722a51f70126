"""WordPieceVocabGen (vocab.txt) and ByteLevelBPEVocabGen (vocab.json + merges.txt): a vocabulary
learned from ExampleGen's train split."""

from components.vocab_gen.component import (ByteLevelBPEVocabGen, WordPieceVocabGen,
                                            WordPieceVocabGenSpec)
from components.vocab_gen.learner import count_words, learn_vocab

__all__ = ["ByteLevelBPEVocabGen", "WordPieceVocabGen", "WordPieceVocabGenSpec", "count_words",
           "learn_vocab"]
