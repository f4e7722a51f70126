"""`lmpipe export-tflite`: a pushed classifier to TensorFlow Lite, scored beside its SavedModel.

    lmpipe export-tflite --model-dir SERVING_DIR/classifier --out DIR [--version V]
        [--quantize none|dynamic|int8] [--run-dir FINETUNE_RUN] [--calibration-data FILE]

`--run-dir` (the fine-tuning run that pushed the model): its eval split, the one its Evaluator
scored, scores both models (accuracy, macro-F1, and how often their labels agree); int8
calibrates on texts of its train split (or of `--calibration-data`, one text per line).
Writes DIR/model.tflite, DIR/labels.txt (class i on line i) and DIR/report.json.
"""

import glob
import json
import os
import time
from typing import List, Optional, Tuple

import numpy as np

from models.core import text_files

CALIBRATION_TEXTS = 200  # int8: texts the converter runs to see the activations' ranges
# A model whose labels agree with its SavedModel on fewer eval examples than this is reported
# as not faithful (the export still stands; the report says so).
MIN_AGREEMENT = 0.95


class ExportError(ValueError):
    """Bad input to export-tflite; the message says what to give instead."""


def run_examples(run_dir: str, split: str) -> List[str]:
    """The files of `split` of the labelled examples (LabelledExampleGen) of a fine-tuning run."""
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    from pipeline.run_summary import latest_output

    path = os.path.join(run_dir, "metadata.sqlite")
    if not os.path.isfile(path):
        raise ExportError(f"--run-dir {run_dir} has no metadata.sqlite: give the --run-dir of "
                          "the lmpipe finetune run that pushed the model")
    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(path))
    examples = latest_output(store, "FileBasedExampleGen", "Examples")
    files = sorted(glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))) if examples else []
    if not files:
        raise ExportError(f"--run-dir {run_dir}: no '{split}' split of labelled examples found")
    return files


def read_examples(files: List[str]) -> Tuple[List[str], List[str]]:
    """(texts, labels) of raw labelled tf.Examples."""
    import tensorflow as tf

    from models.core import features

    texts, labels = [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        texts.append(feature[features.TEXT].bytes_list.value[0].decode("utf-8"))
        labels.append(feature[features.LABEL].bytes_list.value[0].decode("utf-8"))
    return texts, labels


def calibration_texts(run_dir: Optional[str], path: Optional[str]) -> List[str]:
    if path:
        texts = [line for line in text_files.split_lines(text_files.read_utf8(
            path, ExportError, "give --calibration-data as UTF-8 text, one text per line"))
                 if line.strip()]
        if not texts:
            raise ExportError(f"--calibration-data {path} has no texts (one per line)")
    elif run_dir:
        texts, _ = read_examples(run_examples(run_dir, "train"))
    else:
        return []
    # Evenly through the file, so that calibration sees all of it, not its first lines.
    step = max(1, len(texts) // CALIBRATION_TEXTS)
    return texts[::step][:CALIBRATION_TEXTS]


def evaluate(saved_model_dir: str, tflite_model, texts: List[str], labels: List[str],
             classes: List[str]) -> dict:
    """Both models on the same labelled texts: metrics of each, and label agreement."""
    from pipeline.run_summary import classification_metrics
    from serving.predict import LocalPredictor

    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ExportError(f"the eval examples have labels the model does not know: {unknown} "
                          f"(its classes: {classes})")
    actual = [classes.index(label) for label in labels]
    saved = np.argmax([row["probabilities"] for row in
                       LocalPredictor(saved_model_dir).predict(texts)], axis=1)
    lite = np.argmax(tflite_model.predict(texts), axis=1)
    return {"saved_model": classification_metrics(actual, saved, classes),
            "tflite": classification_metrics(actual, lite, classes),
            "label_agreement": float(np.mean(saved == lite))}


def export(model_dir: str, out: str, quantize: str = "none", version: Optional[int] = None,
           run_dir: Optional[str] = None, calibration_data: Optional[str] = None) -> dict:
    """Converts, writes DIR/model.tflite and labels.txt, evaluates (with `run_dir`), writes and
    returns the report."""
    from models.core.export import ModelInfo, ModelInfoError
    from models.text_classification import tflite
    from pipeline.run_summary import size_mb
    from serving.versions import resolve_version_dir

    if quantize not in tflite.QUANTIZE_MODES:
        raise ExportError(f"--quantize {quantize}: use one of {', '.join(tflite.QUANTIZE_MODES)}")
    saved_model_dir = resolve_version_dir(os.path.abspath(model_dir), version)
    try:
        info = ModelInfo.read(saved_model_dir)
    except ModelInfoError as e:
        raise ExportError(str(e)) from None
    start = time.time()
    content = tflite.convert(saved_model_dir, quantize,
                             calibration_texts(run_dir, calibration_data))
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "model.tflite")
    with open(model_path, "wb") as f:
        f.write(content)
    with open(os.path.join(out, "labels.txt"), "w", encoding="utf-8") as f:
        f.write("".join(label + "\n" for label in info.labels))
    report = {"saved_model": saved_model_dir, "tflite_model": os.path.abspath(model_path),
              "quantize": quantize, "size_mb": len(content) / 1e6,
              "saved_model_size_mb": size_mb(saved_model_dir),
              "convert_seconds": round(time.time() - start, 1), "labels": info.labels}
    if run_dir:
        texts, labels = read_examples(run_examples(run_dir, "eval"))
        report["eval_split"] = evaluate(saved_model_dir, tflite.TFLiteClassifier(model_path),
                                        texts, labels, info.labels)
        report["eval_split"]["faithful"] = (
            report["eval_split"]["label_agreement"] >= MIN_AGREEMENT)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report
