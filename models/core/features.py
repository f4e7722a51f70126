"""Names shared by every stage of the pipeline: feature keys, the reserved vocabulary entries,
file names and signature names. The bottom of the import graph: it imports nothing.

One place for names means the ExampleGen, Transform, masker, trainer, exporter
and evaluator cannot drift apart.
"""

# Raw corpus examples (TextExampleGen output).
TEXT = "text"
SOURCE = "source"

# Labelled examples (LabelledExampleGen output): the text and its class name, whatever the
# columns were called in the input file.
LABEL = "label"
# The second text of a pair (entailment, paraphrase): `[CLS] text [SEP] text_pair [SEP]`.
TEXT_PAIR = "text_pair"

# Tagged examples (TaggedExampleGen output, token classification): per sentence its tokens
# (words as the data splits them) and one IOB2 tag per token, both bytes lists.
TOKENS = "tokens"
TAGS = "tags"
# The tag schemes the reader takes (components/tagged_example_gen/reader.py); the model learns
# and serves IOB2.
TAG_SCHEMES = ("iob2", "iob1", "bioes", "bilou")
# Transform output for token classification, per sentence: every window's label per position
# (the class id on a word's first piece, -100 elsewhere), flattened like PACKED_IDS, and each
# word's class id (for evaluation).
LABEL_IDS = "label_ids"
WORD_LABEL_IDS = "word_label_ids"

# Question answering (QuestionAnswerExampleGen output), per question: its id, the question and
# its context (strings), and its gold answers (`answer_text`, bytes list, and each one's
# `answer_start`, int64 list, code points into the context: SQuAD's); no answer (v2.0's
# unanswerable questions): both lists empty.
QUESTION_ID = "id"
QUESTION = "question"
CONTEXT = "context"
ANSWER_TEXT = "answer_text"
ANSWER_START = "answer_start"
# Transform output for question answering, per question: every window's token ids and segment
# ids flattened (`[(windows * seq_length)]`), and per window where the answer starts and ends
# (positions in the window; 0, the [CLS], where the window does not hold it).
START_POSITIONS = "start_positions"
END_POSITIONS = "end_positions"

# Transform output: per document, the wordpiece ids packed into consecutive
# fixed-length windows `[CLS] ... [SEP] [PAD]...`, flattened (length is a
# multiple of the sequence length).
PACKED_IDS = "packed_ids"

# Transform output for classification: `[CLS] text [SEP] [PAD]...`, the class index and a
# text-length bucket to slice evaluation by.
LABEL_ID = "label_id"
SEGMENT_IDS = "segment_ids"  # int64 [seq_length]: 0 for the first text, 1 for the pair's second
LENGTH_BUCKET = "length_bucket"
# Long texts (models/text_classification/settings.py LONG_TEXTS), per text: its length in
# pieces, how many windows the model reads (1 unless `windows`) and whether any of it is not
# read (int64 0/1); under
# `windows` the windows themselves, `[CLS] ... [SEP] [PAD]...` flattened, int64
# [(windows * seq_length)], in place of `token_ids`.
TEXT_LENGTH = "text_length"
WINDOWS = "windows"
TRUNCATED = "truncated"
WINDOW_IDS = "window_ids"
# Distillation (components/teacher_scores): the teacher's class probabilities, float [classes].
TEACHER_PROBABILITIES = "teacher_probabilities"

# Masked MLM training examples (MlmMasker output), one per window and masking.
TOKEN_IDS = "token_ids"          # int64 [seq_length], after masking
PADDING_MASK = "padding_mask"    # int64 [seq_length], 1 for real tokens
MASK_POSITIONS = "mask_positions"  # int64 [max_predictions], 0-padded
MASK_IDS = "mask_ids"            # int64 [max_predictions], original ids
MASK_WEIGHTS = "mask_weights"    # float [max_predictions], 1.0 real, 0.0 pad

# Reserved vocabulary entries, in this order at the top of every vocabulary.
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
RESERVED_TOKENS = (PAD, UNK, CLS, SEP, MASK)
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(RESERVED_TOKENS))

# A vocabulary is a `vocab.txt` (one token per line, id = line number) in the WordPieceVocab
# artifact, beside the transform graph that embeds it and beside a saved encoder.
VOCAB_FILE = "vocab.txt"

# Serving signature names.
SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
EVAL_SIGNATURE = "mlm_eval"
PREDICT_EXAMPLES_SIGNATURE = "predict_examples"  # a classifier on raw tf.Examples (TFMA)
