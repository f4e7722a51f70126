"""TextExampleGen: plain-text corpus directory to tf.train.Examples (`text`, `source`)."""

from components.text_example_gen.component import TextExampleGen, check_eval_buckets
from components.text_example_gen.reader import CorpusError, check_corpus_dir, read_documents

__all__ = ["TextExampleGen", "check_eval_buckets", "CorpusError", "check_corpus_dir", "read_documents"]
