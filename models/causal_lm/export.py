"""The causal LM's SavedModel (keras.export.ExportArchive, TF Serving's layout): generation
from raw prompts with a key/value cache, scoring of given text, and the Evaluator's signature.

Signatures:

- `serving_default(prompt: string[None])`: the continuation of each prompt with the model's
  defaults (`GenerationDefaults`: greedy, `max_new_tokens`): `text` string `[batch]` (the new
  text, up to and without `<|endoftext|>`) and `token_count` int32 `[batch]` (new tokens in
  `text`).
- `generate(prompt, max_new_tokens, temperature, top_k, top_p, seed)`: the same with every
  setting per prompt (each `[batch]`; TF Serving requires every input a signature names, hence
  two signatures): `max_new_tokens` int32 (cut to the positions left after the prompt),
  `temperature` float32 (0: greedy), `top_k` int32 (0: off), `top_p` float32 (1: off),
  `seed` int64 (the same seed and settings give the same text, whatever batch the prompt
  came in).
- `score(text: string[None])`: `log_probs` float32 `[batch, n]` (log-probability of each token of
  the text given the ones before it; the text is read after `<|endoftext|>`, as GPT-2 scores a
  document, so every token, the first too, is scored; 0 past `token_count`), `token_count`
  int32 and `perplexity` float32 (exp of minus the mean log-probability). A text longer than
  the model's positions is scored on its first `positions - 1` tokens.
- `lm_eval(examples: string[None])`: serialized Tokenize blocks -> per block `token_nll` (summed
  over its T - 1 predictions), `token_count`, `token_correct` (argmax right); TFMA's metrics
  (models/core/lm_metrics.py CausalLM*) add them up.

Generation (keras-hub's `GPT2CausalLM.call_with_cache` inside one `tf.while_loop`): prompts are
right-padded into one buffer of `max(prompt + max_new_tokens)` positions; one forward pass seeds
the cache with the shortest prompt, then each step feeds one token per row and appends the
chosen token where that row is past its prompt and within its budget, so a request costs one
pass over its prompt plus one cached step per new token (linear in its length). A prompt is
kept to its last `positions - max_new_tokens` tokens; an empty prompt starts from
`<|endoftext|>` (GPT-2's unconditional start). Sampling follows Hugging Face's logits
processors (transformers/generation/logits_process.py): temperature, then top-k, then top-p
(the smallest set of most probable tokens whose probability reaches top_p), then a draw
(Gumbel-max with `tf.random.stateless_uniform` seeded by (seed, position)).
"""

import dataclasses
import json
import os
from typing import Optional, Sequence

import keras
import tensorflow as tf

from models.core import features
from models.tokenizers.bpe import ByteLevelBPE, write_bpe
from models.causal_lm.model import next_token_pairs, parse_blocks

GENERATE_SIGNATURE = "generate"
SCORE_SIGNATURE = "score"
LM_EVAL_SIGNATURE = "lm_eval"
PROMPT = "prompt"
NEG_INF = -1e9


@dataclasses.dataclass(frozen=True)
class GenerationDefaults:
    """What `serving_default` (and `lmpipe predict` without flags) generates with."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0


def _filter_and_draw(logits, temperature, top_k, top_p, seed, step):
    """One token per row of `[batch, vocab]` float32 logits, by the row's settings."""
    vocab = tf.shape(logits)[1]
    scaled = logits / tf.maximum(temperature, 1e-6)[:, tf.newaxis]
    descending = tf.sort(scaled, direction="DESCENDING")
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.gather(descending, k - 1, batch_dims=1)[:, tf.newaxis]
    scaled = tf.where(scaled < kth, NEG_INF, scaled)
    descending = tf.where(tf.range(vocab)[tf.newaxis, :] < k[:, tf.newaxis], descending, NEG_INF)
    # Probability mass before each sorted token; keep tokens until top_p is reached (at least 1).
    before = tf.math.cumsum(tf.nn.softmax(descending), axis=1, exclusive=True)
    kept = tf.maximum(tf.reduce_sum(tf.cast(before < top_p[:, tf.newaxis], tf.int32), axis=1), 1)
    threshold = tf.gather(descending, kept - 1, batch_dims=1)[:, tf.newaxis]
    scaled = tf.where(scaled < threshold, NEG_INF, scaled)
    step = tf.cast(step, tf.int64)
    uniform = tf.map_fn(
        lambda s: tf.random.stateless_uniform([vocab], seed=tf.stack([s, step]),
                                              minval=1e-20, maxval=1.0),
        seed, fn_output_signature=tf.float32)
    return tf.argmax(scaled - tf.math.log(-tf.math.log(uniform)), axis=1, output_type=tf.int32)


def _next_tokens(logits, temperature, top_k, top_p, seed, step):
    greedy = tf.argmax(logits, axis=1, output_type=tf.int32)
    return tf.cond(
        tf.reduce_any(temperature > 0),
        lambda: tf.where(temperature > 0,
                         _filter_and_draw(logits, temperature, top_k, top_p, seed, step),
                         greedy),
        lambda: greedy)


def generate_ids(model, prompt_ids: tf.RaggedTensor, max_new_tokens, temperature, top_k, top_p,
                 seed, eot_id: int, positions: int):
    """Generation on `[batch, (tokens)]` prompt ids (settings `[batch]` each, see the module
    docstring); returns the new ids `[batch, (new)]` int32, without `<|endoftext|>` and what
    would follow it."""
    prompt_ids = tf.cast(prompt_ids, tf.int32)
    batch = prompt_ids.nrows(out_type=tf.int32)
    empty = tf.cast(tf.equal(prompt_ids.row_lengths(), 0), tf.int64)
    start = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(empty, tf.int32))], eot_id), empty)
    prompt_ids = tf.concat([start, prompt_ids], axis=1)
    budget = tf.clip_by_value(tf.cast(max_new_tokens, tf.int32), 0, positions - 1)
    lengths = tf.cast(prompt_ids.row_lengths(), tf.int32)
    keep = tf.minimum(lengths, positions - budget)
    prompt_ids = tf.ragged.boolean_mask(
        prompt_ids, tf.ragged.range(lengths) >= (lengths - keep)[:, tf.newaxis])
    lengths = keep
    ends = lengths + budget
    total = tf.reduce_max(ends)
    tokens = prompt_ids.to_tensor(default_value=0)
    tokens = tf.pad(tokens, [[0, 0], [0, total - tf.shape(tokens)[1]]])
    backbone = model.backbone
    cache = tf.zeros([batch, backbone.num_layers, 2, total, backbone.num_heads,
                      backbone.hidden_dim // backbone.num_heads], dtype=model.compute_dtype)
    first = tf.reduce_min(lengths)
    # Seeds the cache up to the shortest prompt (its last token is fed again by the loop).
    _, _, cache = model.call_with_cache(tokens[:, :first], cache, 0)
    temperature = tf.cast(temperature, tf.float32)
    top_k, top_p = tf.cast(top_k, tf.int32), tf.cast(top_p, tf.float32)
    seed = tf.cast(seed, tf.int64)

    def condition(index, tokens, cache, done):
        return (index < total) & tf.reduce_any(~done & (index < ends))

    def step(index, tokens, cache, done):
        logits, _, cache = model.call_with_cache(tokens[:, index - 1:index], cache, index - 1)
        chosen = _next_tokens(tf.cast(logits[:, 0, :], tf.float32), temperature, top_k, top_p,
                              seed, index)
        writes = (index >= lengths) & (index < ends) & ~done
        at_index = tf.equal(tf.range(total), index)[tf.newaxis, :] & writes[:, tf.newaxis]
        tokens = tf.where(at_index, chosen[:, tf.newaxis], tokens)
        done = done | (writes & tf.equal(chosen, eot_id))
        return index + 1, tokens, cache, done

    _, tokens, _, _ = tf.while_loop(
        condition, step, [first, tokens, cache, tf.zeros([batch], tf.bool)],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None]), cache.shape,
                          tf.TensorShape([None])])
    new = tf.RaggedTensor.from_tensor(tokens, lengths=ends)
    new = tf.ragged.boolean_mask(new, tf.ragged.range(ends) >= lengths[:, tf.newaxis])
    # Up to the first <|endoftext|>.
    before_eot = tf.equal(tf.math.cumsum(tf.cast(tf.equal(new, eot_id), tf.int32), axis=1), 0)
    return tf.ragged.boolean_mask(new, before_eot)


def _generate_fns(model, tokenizer: ByteLevelBPE, positions: int, defaults: GenerationDefaults):
    def run(prompt, max_new_tokens, temperature, top_k, top_p, seed):
        new = generate_ids(model, tokenizer.tokenize(prompt), max_new_tokens, temperature, top_k,
                           top_p, seed, tokenizer.eot_id, positions)
        return {"text": tokenizer.detokenize(new),
                "token_count": tf.cast(new.row_lengths(), tf.int32)}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=PROMPT),
        tf.TensorSpec([None], tf.int32, name="max_new_tokens"),
        tf.TensorSpec([None], tf.float32, name="temperature"),
        tf.TensorSpec([None], tf.int32, name="top_k"),
        tf.TensorSpec([None], tf.float32, name="top_p"),
        tf.TensorSpec([None], tf.int64, name="seed")])
    def generate(prompt, max_new_tokens, temperature, top_k, top_p, seed):
        return run(prompt, max_new_tokens, temperature, top_k, top_p, seed)

    # Calls `generate` (one trace of the generation loop serves both signatures).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=PROMPT)])
    def serving_default(prompt):
        n = tf.shape(prompt)[:1]
        return generate(prompt, tf.fill(n, defaults.max_new_tokens),
                        tf.fill(n, float(defaults.temperature)), tf.fill(n, defaults.top_k),
                        tf.fill(n, float(defaults.top_p)),
                        tf.fill(n, tf.constant(defaults.seed, tf.int64)))

    return serving_default, generate


def token_log_probs(model, token_ids: tf.Tensor, padding_mask: tf.Tensor) -> tf.Tensor:
    """log p(token i+1 | tokens <= i) for `[batch, n]` ids: `[batch, n - 1]` float32."""
    logits = tf.cast(model({"token_ids": token_ids[:, :-1],
                            "padding_mask": padding_mask[:, :-1]}, training=False), tf.float32)
    log_probs = tf.nn.log_softmax(logits)
    return tf.gather(log_probs, token_ids[:, 1:], batch_dims=2)


def _score_fn(model, tokenizer: ByteLevelBPE, positions: int):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.TEXT)])
    def score(text):
        ids = tf.cast(tokenizer.tokenize(text), tf.int32)[:, :positions - 1]
        eot = tf.fill([ids.nrows(), 1], tokenizer.eot_id)
        ids = tf.concat([eot, ids], axis=1)
        token_ids = ids.to_tensor(default_value=0)
        padding_mask = tf.sequence_mask(ids.row_lengths(), tf.shape(token_ids)[1], tf.int32)
        count = tf.cast(ids.row_lengths() - 1, tf.int32)
        valid = tf.sequence_mask(count, tf.shape(token_ids)[1] - 1)
        log_probs = tf.where(valid, token_log_probs(model, token_ids, padding_mask), 0.0)
        mean = tf.reduce_sum(log_probs, axis=1) / tf.maximum(tf.cast(count, tf.float32), 1.0)
        return {"log_probs": log_probs, "token_count": count, "perplexity": tf.exp(-mean)}

    return score


def _lm_eval_fn(model, seq_length: int):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def lm_eval(examples):
        model_inputs, targets = next_token_pairs(parse_blocks(examples, seq_length))
        logits = tf.cast(model(model_inputs, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        correct = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), targets)
        return {"token_nll": tf.reduce_sum(nll, axis=1),
                "token_count": tf.cast(tf.fill(tf.shape(nll)[:1], tf.shape(nll)[1]), tf.float32),
                "token_correct": tf.reduce_sum(tf.cast(correct, tf.float32), axis=1)}

    return lm_eval


MODEL_INFO = os.path.join("assets.extra", "lmpipe")
WARMUP_PROMPTS = ("The history of the city", "", "In 1900, a new")


def export_causal_lm(model: keras.Model, vocab: dict, merges: Sequence[str], export_dir: str,
                     seq_length: int, model_name: str = "clm",
                     defaults: Optional[GenerationDefaults] = None) -> str:
    """Writes the SavedModel (signatures in the module docstring) to `export_dir`, with TF
    Serving warmup requests and `assets.extra/lmpipe/` (`vocab.json`, `merges.txt`,
    `model.json`: task, positions, generation defaults)."""
    defaults = defaults or GenerationDefaults()
    positions = int(model.backbone.max_sequence_length)
    tokenizer = ByteLevelBPE(vocab, merges)
    serving_default, generate = _generate_fns(model, tokenizer, positions, defaults)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)
    archive.add_endpoint(features.SERVING_SIGNATURE, serving_default)
    archive.add_endpoint(GENERATE_SIGNATURE, generate)
    archive.add_endpoint(SCORE_SIGNATURE, _score_fn(model, tokenizer, positions))
    archive.add_endpoint(LM_EVAL_SIGNATURE, _lm_eval_fn(model, seq_length))
    archive.write_out(export_dir)
    info_dir = os.path.join(export_dir, MODEL_INFO)
    write_bpe(vocab, merges, info_dir)
    with tf.io.gfile.GFile(os.path.join(info_dir, "model.json"), "w") as f:
        json.dump({"task": "causal_lm", "seq_length": seq_length, "positions": positions,
                   "generation": dataclasses.asdict(defaults)}, f, indent=2)
    _write_warmup(export_dir, model_name)
    return export_dir


def _write_warmup(export_dir: str, model_name: str) -> None:
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")
    with tf.io.TFRecordWriter(path) as writer:
        for prompts in ([WARMUP_PROMPTS[0]], list(WARMUP_PROMPTS)):
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
                name=model_name, signature_name=features.SERVING_SIGNATURE))
            request.inputs[PROMPT].CopyFrom(tf.make_tensor_proto(prompts, dtype=tf.string))
            writer.write(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
