"""WordPieceVocabGen: a WordPiece vocabulary (vocab.txt) learned from ExampleGen's train split."""

from components.vocab_gen.component import WordPieceVocabGen, WordPieceVocabGenSpec
from components.vocab_gen.learner import count_words, learn_vocab

__all__ = ["WordPieceVocabGen", "WordPieceVocabGenSpec", "count_words", "learn_vocab"]
