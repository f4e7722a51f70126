"""TensorFlow Lite export of a classifier SavedModel: raw strings in, class probabilities out,
the tokenizer inside the model.

The SavedModel's own tokenizer (models/tokenizers/wordpiece.py) uses tensorflow-text ops that have no
TFLite kernels, so the TFLite model tokenizes with `text.FastBertTokenizer` (TFLite kernels
ship in tensorflow-text: `FastBertNormalize`, `FastWordpieceTokenizeWithOffsets`,
`RaggedTensorToTensor`), frames `[CLS] ... [SEP]` with dense ops, and runs the SavedModel's
`classify_ids` signature. Its tokenization is BERT's with three known differences: NFKC-style
case folding of a few characters (ß, ligatures, full-width forms), special tokens written in a
text ("[MASK]") split as ordinary text, and a word is one [UNK] past 100 bytes (100 characters
in the SavedModel); `lmpipe export-tflite --run-dir` reports how often the labels agree.

Quantization (`convert(quantize=...)`): "none" (float32), "dynamic" (int8 weights, float
activations) or "int8" (weights and activations, calibrated on `calibration_texts`; ops
without an int8 kernel stay float).

Running it needs the tensorflow-text custom ops registered with the interpreter:

    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
    import tensorflow_text
    interpreter = InterpreterWithCustomOps(
        model_path="model.tflite",
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
    interpreter.get_signature_runner()(text=np.array(["a gripping film"]))["probabilities"]

(`TFLiteClassifier` below does this.)
"""

from typing import Iterable, Optional, Sequence

import numpy as np
import tensorflow as tf

from models.core import features
from models.core.export import ModelInfo, ModelInfoError
from models.text_classification.export import CLASSIFY_IDS_SIGNATURE
from models.tokenizers.wordpiece import (MAX_CHARS_PER_WORD, SpecialIds, TokenizerSettings,
                                         read_vocab)

QUANTIZE_MODES = ("none", "dynamic", "int8")


class TFLiteExportError(ValueError):
    """The model or the options cannot make a TFLite model; the message says why."""


def fast_bert_tokenizer(vocab: Sequence[str], settings: TokenizerSettings):
    """tensorflow-text's FastBertTokenizer (TFLite kernels) for lmpipe's tokenizer settings."""
    import tensorflow_text as text

    if settings.lowercase != settings.strips_accents:
        raise TFLiteExportError(
            f"the vocabulary is {'uncased' if settings.lowercase else 'cased'} but "
            f"{'keeps' if settings.lowercase else 'strips'} accents; FastBertTokenizer, the "
            "tokenizer TFLite can run, lower-cases and strips accents together or does neither")
    return text.FastBertTokenizer(
        vocab=list(vocab), suffix_indicator="##", unknown_token=features.UNK,
        max_bytes_per_word=MAX_CHARS_PER_WORD, token_out_type=tf.int32,
        lower_case_nfd_strip_accents=settings.lowercase)


def frame(ids: tf.RaggedTensor, seq_length: int, special: SpecialIds) -> tf.Tensor:
    """`[batch, (tokens)]` ids to `[CLS] ids [SEP] [PAD]...`, `[batch, min(longest + 2,
    seq_length)]`, in ops that TFLite has kernels for (no ragged concatenation)."""
    body = ids.to_tensor(default_value=special.pad)[:, :seq_length - 2]
    lengths = tf.minimum(tf.cast(ids.row_lengths(), tf.int32), seq_length - 2)
    n = tf.shape(body)[0]
    token_ids = tf.concat([tf.fill([n, 1], special.cls), body, tf.fill([n, 1], special.pad)],
                          axis=1)
    positions = tf.expand_dims(tf.range(tf.shape(token_ids)[1]), 0)
    return tf.where(positions == tf.expand_dims(lengths, 1) + 1, special.sep, token_ids)


def convert(saved_model_dir: str, quantize: str = "none",
            calibration_texts: Optional[Sequence[str]] = None) -> bytes:
    """The TFLite flatbuffer of the classifier SavedModel at `saved_model_dir`."""
    import tensorflow_text as text

    if quantize not in QUANTIZE_MODES:
        raise TFLiteExportError(f"--quantize {quantize}: use one of {', '.join(QUANTIZE_MODES)}")
    if quantize == "int8" and not calibration_texts:
        raise TFLiteExportError("--quantize int8 calibrates on texts of the training data: give "
                                "some (--run-dir or --calibration-data)")
    try:
        info = ModelInfo.read(saved_model_dir)
    except ModelInfoError as e:
        raise TFLiteExportError(str(e)) from None
    if info.text_pairs:
        raise TFLiteExportError(f"{saved_model_dir} classifies text pairs; the TFLite export "
                                "takes single-text classifiers only")
    if info.long_text != "first":
        raise TFLiteExportError(f"{saved_model_dir} reads long texts as {info.long_text}; the "
                                "TFLite model reads a text's first window only, so it would "
                                "answer differently: export a model fine-tuned with "
                                "--long-text first")
    loaded = tf.saved_model.load(saved_model_dir)
    if CLASSIFY_IDS_SIGNATURE not in loaded.signatures:
        raise TFLiteExportError(f"{saved_model_dir} has no {CLASSIFY_IDS_SIGNATURE} signature: "
                                "fine-tune it again to re-export it")
    classify_ids = loaded.signatures[CLASSIFY_IDS_SIGNATURE]
    vocab = read_vocab(info.vocab_file)
    tokenizer = fast_bert_tokenizer(vocab, TokenizerSettings.read(info.vocab_file))
    special = SpecialIds.of(vocab, info.vocab_file)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.TEXT)])
    def classify(texts):
        token_ids = frame(tokenizer.tokenize(texts), info.seq_length, special)
        return classify_ids(token_ids=token_ids, segment_ids=tf.zeros_like(token_ids))

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [classify.get_concrete_function()], loaded)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True  # tensorflow-text's, registered where the model runs
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        texts = list(calibration_texts)
        converter.representative_dataset = lambda: ([np.array([t])] for t in texts)
        # The calibrator runs the model, tokenizer included: it needs the custom ops too
        # (the converter has no public option for this).
        converter.target_spec._experimental_custom_op_registerers = list(  # noqa: SLF001
            text.tflite_registrar.SELECT_TFTEXT_OPS)
    return converter.convert()


class TFLiteClassifier:
    """A TFLite classifier from `convert`, run with tensorflow-text's kernels registered.

    `predict(texts)` → `[len(texts), classes]` probabilities, `batch_size` texts per call."""

    def __init__(self, model_path: Optional[str] = None, model_content: Optional[bytes] = None,
                 num_threads: Optional[int] = None):
        import tensorflow_text as text
        from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

        self.interpreter = InterpreterWithCustomOps(
            model_path=model_path, model_content=model_content, num_threads=num_threads,
            custom_op_registerers=text.tflite_registrar.SELECT_TFTEXT_OPS)
        self._run = self.interpreter.get_signature_runner()

    def predict(self, texts: Iterable[str], batch_size: int = 32) -> np.ndarray:
        texts = list(texts)
        out = [self._run(**{features.TEXT: np.array(texts[i:i + batch_size], dtype=object)})
               ["probabilities"] for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros([0, 0], np.float32)
