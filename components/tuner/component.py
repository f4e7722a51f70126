"""lmpipe's Tuner: TFX's `Tuner` component (its spec, inputs, outputs and `tuner_fn` contract)
with components/tuner/executor.py as its executor, which TFX's falls short of in three ways:
it refuses `TuneArgs` (parallel trials) outside Google Cloud, its results file breaks under
Hyperband (tfx#7778: `get_best_trials(max_trials)` with `max_trials` None), and it keeps only
completed trials' scores. Outputs: `best_hyperparameters` (the Trainer's `hyperparameters`
input, as TFX's) and `tuner_results` (every trial, a plot and TensorBoard logs).
"""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.tuner import executor


class Tuner(tfx.components.Tuner):
    """TFX's Tuner with lmpipe's executor (same arguments: `tuner_fn` is a family's
    `models/<family>/trainer.py:tuner_fn`, `tune_args.num_parallel_trials` the worker
    processes; custom_config holds `settings` and `space`)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
