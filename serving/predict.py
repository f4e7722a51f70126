"""Calling a pushed model: in-process through its `serving_default` signature, or a TF Serving
server over REST (its documented JSON API) or gRPC (tensorflow-serving-api).

All three take raw strings (or, for a model of text pairs, `(text, text_pair)` tuples) and
return one dict per text with the signature's outputs (for a classifier: `label`, `score`,
`probabilities` and `classes`, the class name of each column, `windows` (how many windows of
the text it read) and `truncated` (whether some of the text was not read); for a fill-mask model: `tokens`,
`scores`, `mask_count`; for a token classifier: `entities`, a list of `{entity_type, start, end,
entity_text, score}` with character offsets into the text, and `entity_count`; for a
text-generation model (GPT-2: its input is `prompt`): `generated_text`, the continuation, and
`token_count`; for a question-answering model (its inputs are `question` and `context`: give
`{"question": ..., "context": ...}` items): `answer`, `start`, `end` (character offsets into
the context), `score`, `has_answer` and `alternatives`, the top-k as
`{answer, start, end, score}`), as plain Python values.

Example (in-process, on a pushed classifier):

    predictor = LocalPredictor("runs/demo/finetune/serving/classifier")
    predictor.predict(["a gorgeous, witty film"])
    # [{'classes': ['negative', 'positive'], 'label': 'positive', 'probabilities': [0.19, 0.81],
    #   'score': 0.81, 'truncated': False, 'windows': 1}]
"""

import json
import urllib.error
import urllib.request
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from serving import versions

SIGNATURE = "serving_default"
GENERATE_SIGNATURE = "generate"  # a text-generation model's, with every setting per prompt
INPUT = "text"
PROMPT_INPUT = "prompt"  # a text-generation model's input
PAIR_INPUT = "text_pair"  # the second input of a model of text pairs
QA_INPUTS = ("question", "context")  # a question-answering model's inputs


class PredictError(RuntimeError):
    """The model or server could not answer; the message says why and what to check."""


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype == object else \
            _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def _rows(outputs: Dict[str, np.ndarray], count: int) -> List[dict]:
    rows = [{name: _plain(values[i]) for name, values in sorted(outputs.items())}
            for i in range(count)]
    return [_unpadded(row) for row in rows]


ENTITY_FIELDS = ("entity_type", "start", "end", "entity_text", "score")


def _unpadded(row: dict) -> dict:
    """One text's outputs without the batch's padding: a fill-mask model's masks up to
    `mask_count`; a token classifier's entities (up to `entity_count`) as a list of
    {entity_type, start, end, entity_text, score}."""
    if "mask_count" in row:  # fill-mask: drop the batch's padding rows ("" and 0)
        row["tokens"] = row["tokens"][:row["mask_count"]]
        row["scores"] = row["scores"][:row["mask_count"]]
    if "starts" in row and "answers" in row:  # question answering: the top-k as a list
        row["alternatives"] = [
            {"answer": a, "start": s, "end": e, "score": sc} for a, s, e, sc in zip(
                row.pop("answers"), row.pop("starts"), row.pop("ends"), row.pop("scores"))
            if s >= 0]
        return row
    if "entity_count" in row:
        count = row["entity_count"]
        return {"entities": [dict(zip(ENTITY_FIELDS, values)) for values in zip(
            *(row[name][:count] for name in ENTITY_FIELDS))], "entity_count": count}
    return row


def as_text(item) -> str:
    """Texts may come as bytes that are not UTF-8: decode with replacement characters rather
    than fail, so one bad line does not lose a whole batch."""
    return item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)


class _Predictor:
    """Texts (str or bytes; non-UTF-8 bytes become U+FFFD) to one result dict each, sent in
    batches of `self.batch_size` to `self._call`."""

    batch_size = 256

    def predict(self, texts: Sequence) -> List[dict]:
        results = []
        texts = [{k: as_text(v) for k, v in item.items()} if isinstance(item, dict)
                 else tuple(as_text(t) for t in item) if isinstance(item, (tuple, list))
                 else as_text(item) for item in texts]
        for start in range(0, len(texts), self.batch_size):
            results.extend(self._call(texts[start:start + self.batch_size]))
        return results

    def _call(self, texts: List) -> List[dict]:
        raise NotImplementedError


def _inputs(texts: List) -> Dict[str, List[str]]:
    """{input name: strings}: `text`, and `text_pair` when the items are pairs; the items' own
    names when they are dicts (`question`, `context`)."""
    if texts and isinstance(texts[0], dict):
        names = sorted(texts[0])
        if any(sorted(item) != names for item in texts):
            raise PredictError(f"every item needs the same inputs ({', '.join(names)})")
        return {name: [item[name] for item in texts] for name in names}
    if texts and isinstance(texts[0], tuple):
        if any(len(item) != 2 for item in texts):
            raise PredictError("a text pair is two texts (text<TAB>text_pair)")
        return {INPUT: [a for a, _ in texts], PAIR_INPUT: [b for _, b in texts]}
    return {INPUT: list(texts)}


class LocalPredictor(_Predictor):
    """A pushed SavedModel (a version directory, or a model base path: its latest version)
    run in this process through `serving_default`, in batches of `batch_size`."""

    def __init__(self, model_dir: str, version: Optional[int] = None, batch_size: int = 256,
                 generation: Optional[dict] = None):
        """`generation`: a text-generation model's settings (`max_new_tokens`, `temperature`,
        `top_k`, `top_p`, `seed`; those not given keep the served defaults), sent through its
        `generate` signature; None: `serving_default` (the model's defaults)."""
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (the serving graph uses its ops)

        self.path = versions.resolve_version_dir(model_dir, version)
        try:
            loaded = tf.saved_model.load(self.path)
        except (OSError, ValueError) as e:
            raise PredictError(f"cannot load a SavedModel from {self.path}: {e}") from None
        if SIGNATURE not in loaded.signatures:
            raise PredictError(f"{self.path} has no {SIGNATURE} signature "
                               f"(it has {sorted(loaded.signatures)}).")
        self._loaded = loaded  # keeps the variables alive
        self._serve = loaded.signatures[SIGNATURE]
        self._tf = tf
        self.batch_size = batch_size
        self._generation = None
        if PROMPT_INPUT in self._serve.structured_input_signature[1]:  # text generation
            # No settings: serving_default, the model's own defaults.
            self._generation = _generation_settings(self.path, generation) if generation else {}
        elif generation:
            raise PredictError(f"{self.path} is not a text-generation model: "
                               f"{', '.join('--' + k.replace('_', '-') for k in generation)} "
                               "apply to generation only")

    def _call(self, texts: List) -> List[dict]:
        if self._generation is not None:
            return self._generate(texts)
        inputs = _inputs(texts)
        expected = set(self._serve.structured_input_signature[1])
        if set(inputs) != expected:
            raise PredictError(f"{self.path} takes {', '.join(sorted(expected))}; give "
                               + ("a question and its context (--question and --context, or "
                                  "--input FILE.jsonl of {\"question\", \"context\"} lines)"
                                  if set(QA_INPUTS) <= expected else
                                  "pairs (--pairs, text<TAB>text_pair)" if PAIR_INPUT in expected
                                  else "single texts (no --pairs)"))
        outputs = self._serve(**{name: self._tf.constant(values, dtype=self._tf.string)
                                 for name, values in inputs.items()})
        return _rows({k: v.numpy() for k, v in outputs.items()}, len(texts))

    def _generate(self, texts: List) -> List[dict]:
        if any(isinstance(t, tuple) for t in texts):
            raise PredictError(f"{self.path} generates from single prompts (no --pairs)")
        tf = self._tf
        n = len(texts)
        if not self._generation:
            outputs = self._serve(prompt=tf.constant(texts, dtype=tf.string))
        else:
            feeds = {name: tf.fill([n], tf.constant(value, dtype=GENERATION_TYPES[name]))
                     for name, value in self._generation.items()}
            outputs = self._loaded.signatures[GENERATE_SIGNATURE](
                prompt=tf.constant(texts, dtype=tf.string), **feeds)
        # The served `text` is the continuation; the row's `text` is the prompt (as for every
        # model), so the continuation is `generated_text` (Hugging Face pipelines' name).
        outputs = {("generated_text" if k == "text" else k): v.numpy() for k, v in outputs.items()}
        return _rows(outputs, n)


def _model_path(model: str, version: Optional[int], label: Optional[str]) -> str:
    if version is not None and label:
        raise PredictError("give a version or a label, not both")
    if version is not None:
        return f"/v1/models/{model}/versions/{version}"
    if label:
        return f"/v1/models/{model}/labels/{label}"
    return f"/v1/models/{model}"


class RestPredictor(_Predictor):
    """TF Serving's REST API: `POST <url>/v1/models/<model>[/versions/N|/labels/L]:predict`
    with `{"signature_name": ..., "instances": [text, ...]}` (row format)."""

    def __init__(self, url: str, model: str, version: Optional[int] = None,
                 label: Optional[str] = None, timeout: float = 10.0, batch_size: int = 256):
        self.endpoint = url.rstrip("/") + _model_path(model, version, label) + ":predict"
        self.model, self.timeout, self.batch_size = model, timeout, batch_size

    def _call(self, texts: List) -> List[dict]:
        inputs = _inputs(texts)
        instances = texts if len(inputs) == 1 else [
            dict(zip(inputs, row)) for row in zip(*inputs.values())]
        body = json.dumps({"signature_name": SIGNATURE, "instances": instances}).encode()
        request = urllib.request.Request(self.endpoint, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", errors="replace")[:500]
            if e.code == 404:
                raise PredictError(f"TF Serving at {self.endpoint} does not know this model or "
                                   f"version ({detail.strip()}); check --model, --version and "
                                   "the server's models.config.") from None
            raise PredictError(f"TF Serving answered HTTP {e.code} at {self.endpoint}: "
                               f"{detail.strip()}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise PredictError(f"TF Serving at {self.endpoint} is unreachable or too slow "
                               f"({reason}; timeout {self.timeout:g} s). Is the server running "
                               "and the REST port (8501) published?") from None
        try:
            predictions = json.loads(payload)["predictions"]
            if not isinstance(predictions, list) or len(predictions) != len(texts):
                raise ValueError(f"{len(predictions)} predictions for {len(texts)} texts")
        except (ValueError, KeyError, TypeError) as e:
            raise PredictError(f"malformed response from {self.endpoint}: {e}; got "
                               f"{payload[:200]!r}") from None
        # One output: TF Serving returns the bare value per row instead of a dict.
        return [_unpadded(row) if isinstance(row, dict) else {"output": row}
                for row in predictions]


class GrpcPredictor(_Predictor):
    """TF Serving's gRPC PredictionService (port 8500) through tensorflow-serving-api."""

    def __init__(self, target: str, model: str, version: Optional[int] = None,
                 label: Optional[str] = None, timeout: float = 10.0, batch_size: int = 256):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        if version is not None and label:
            raise PredictError("give a version or a label, not both")
        self.target, self.model, self.version, self.label = target, model, version, label
        self.timeout, self.batch_size = timeout, batch_size
        self._channel = grpc.insecure_channel(target)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def _call(self, texts: List) -> List[dict]:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = SIGNATURE
        if self.version is not None:
            request.model_spec.version.value = self.version
        if self.label:
            request.model_spec.version_label = self.label
        for name, values in _inputs(texts).items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.NOT_FOUND:
                raise PredictError(f"TF Serving at {self.target} does not know model "
                                   f"{self.model!r} (version {self.version or self.label or 'latest'}): "
                                   f"{e.details()}") from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise PredictError(f"TF Serving at {self.target} is unreachable or too slow "
                                   f"({code.name}; timeout {self.timeout:g} s). Is the server "
                                   "running and the gRPC port (8500) published?") from None
            raise PredictError(f"TF Serving at {self.target} failed: {code.name}: "
                               f"{e.details()}") from None
        try:
            outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
            if not outputs or any(len(v) != len(texts) for v in outputs.values()):
                raise ValueError("outputs do not have one row per text")
        except (ValueError, TypeError) as e:
            raise PredictError(f"malformed response from {self.target}: {e}") from None
        return _rows(outputs, len(texts))


_DECOMPRESS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}  # module of each suffix


def read_lines(path: str) -> Iterable[str]:
    """Lines of a file, one text per line, split at `\\n` only (a `\\r` before it dropped;
    U+2028 and the like stay inside a text), every line a text, blank ones too, so that
    output line k answers input line k. `.gz`, `.bz2` and `.xz` files are decompressed; a
    leading byte order mark is dropped; bytes that are not UTF-8 become U+FFFD."""
    import importlib
    import os

    suffix = os.path.splitext(path)[1].lower()
    opener = importlib.import_module(_DECOMPRESS[suffix]).open if suffix in _DECOMPRESS else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise OSError(f"{path}: cannot be read as {suffix or 'text'} ({e})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        yield as_text(line[:-1] if line.endswith(b"\r") else line)


GENERATION_TYPES = {"max_new_tokens": "int32", "temperature": "float32", "top_k": "int32",
                    "top_p": "float32", "seed": "int64"}


def _generation_settings(path: str, given: dict) -> dict:
    """The settings each prompt is generated with: `given`, else the model's defaults
    (`assets.extra/lmpipe/model.json`)."""
    import os

    info_file = os.path.join(path, "assets.extra", "lmpipe", "model.json")
    defaults = {}
    if os.path.isfile(info_file):
        with open(info_file) as f:
            defaults = json.load(f).get("generation", {})
    unknown = sorted(set(given) - set(GENERATION_TYPES))
    if unknown:
        raise PredictError(f"unknown generation settings {unknown}")
    return {**{k: defaults.get(k) for k in GENERATION_TYPES}, **given}
