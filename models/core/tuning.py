"""Hyper-parameter search over the one shared training loop (models/core/training.py), with
KerasTuner 1.4.8's oracles: the search space a user writes (`--tune SPACE`), its checks, the
trials and the early stopping of hopeless ones.

The space file is YAML or JSON; its keys are the job's own flag names with `_` for `-`:

    algorithm: random          # grid | random | bayesian | hyperband
    max_trials: 8              # trials at most (grid: at least the grid's size)
    trial_steps: 100           # optimizer steps each trial may train (hyperband: the most)
    objective: accuracy        # optional; default: the task's gate metric (its direction known)
    evaluations: 4             # optional: evaluations on the eval split per trial (default 4)
    hyperparameters:
      learning_rate: {min: 1.0e-5, max: 2.0e-4, sampling: log}   # float range (linear or log)
      batch_size: {values: [16, 32]}                             # choices
      freeze_layers: {min: 0, max: 4}                            # an int range (ints given)
      warmup_ratio: {min: 0.0, max: 0.2, step: 0.1}              # a step makes a range griddable

What a trial is (`SearchSpace.trial_settings`): the job's training settings with the trial's
values, `trial_steps` optimizer steps (hyperband: the rounds it is given) and `evaluations`
evaluations on the eval split, no backup, no checkpoints; its score is the best objective of
its evaluations (not the last: Hugging Face's Trainer scores its last, transformers#25247).

Early stopping (`MedianStopping`, mixed into every oracle but Hyperband's): a trial stops at
an evaluation where its best objective so far is strictly worse than the median of the running
means of the objective that earlier trials reported up to the same step (Golovin et al. 2017,
"Google Vizier", section 3.2.1, its median stopping rule), once `MIN_TRIALS_TO_STOP` earlier
trials reached that step; and at once when its training loss is not finite (a diverged run).
Hyperband (Li et al. 2018) stops by successive halving: KerasTuner's oracle gives most trials
few rounds and the best more. lmpipe trains a promoted trial from its start for its rounds
(KerasTuner's Hyperband tuner would load the earlier trial's weights; lmpipe's learning-rate
schedule spans a trial's whole budget, so a trial is one run of it).

Errors: `read_space` and `parse_space` raise ConfigError naming the file and every key in
error at once.
"""

import dataclasses
import json
import math
import os
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

from models.core.settings import ConfigError

ALGORITHMS = ("grid", "random", "bayesian", "hyperband")
SAMPLINGS = ("linear", "log")
DEFAULT_EVALUATIONS = 4
HYPERBAND_FACTOR = 3  # hyperband: each round keeps the best third of a bracket's trials
MIN_TRIALS_TO_STOP = 2  # median stopping: earlier trials that must have reached the step

# Training settings a trial may not change: how the run is laid out and executed, what the
# search itself sets (steps, evaluations, checkpoints), and what the Tokenize step already
# fixed (a family adds its own: its settings class's TOKENIZE_SETTINGS).
NOT_SEARCHED = {
    "model_name": "the served model's name",
    "seq_length": "the Tokenize step's window length, the same for every trial",
    "model_size": "the pretrained encoder's size",
    "strategy": "how training runs, not what it learns",
    "cpu_replicas": "how training runs, not what it learns",
    "mixed_precision": "how training runs; give --mixed-precision for every trial",
    "jit_compile": "how training runs, not what it learns",
    "checkpoint_every": "the search sets each trial's evaluations (`evaluations`)",
    "eval_steps": "every trial is scored on the same eval batches (--eval-steps)",
    "resume": "trials do not resume",
    "profile_steps": "profile the final training instead",
    "early_stopping_patience": "the search stops hopeless trials itself",
    "seed": "every trial starts from the same seed",
}
SPACE_KEYS = ("algorithm", "max_trials", "trial_steps", "objective", "evaluations",
              "hyperparameters")


@dataclasses.dataclass(frozen=True)
class HyperParameter:
    """One searched setting: a range (`min`, `max`, `sampling`, optional `step`) or
    `values` (a list of choices)."""

    name: str
    values: Optional[tuple] = None
    min: Optional[float] = None
    max: Optional[float] = None
    sampling: str = "linear"
    step: Optional[float] = None
    integer: bool = False

    def grid(self) -> Optional[list]:
        """Every value a grid search tries (None: a continuous range, not griddable)."""
        if self.values is not None:
            return list(self.values)
        if self.integer:
            step = int(self.step or 1)
            return list(range(int(self.min), int(self.max) + 1, step))
        if self.step:
            count = int(math.floor((self.max - self.min) / self.step + 1e-9)) + 1
            return [self.min + i * self.step for i in range(count)]
        return None

    def declare(self, hp) -> None:
        """Declares this setting on a keras_tuner.HyperParameters."""
        if self.values is not None:
            hp.Choice(self.name, list(self.values))
        elif self.integer:
            hp.Int(self.name, int(self.min), int(self.max), step=int(self.step or 1),
                   sampling=self.sampling)
        else:
            hp.Float(self.name, float(self.min), float(self.max), step=self.step,
                     sampling=self.sampling)

    def describe(self) -> str:
        if self.values is not None:
            return "one of " + ", ".join(str(v) for v in self.values)
        kind = "int" if self.integer else "float"
        return (f"{kind} {self.min:g} to {self.max:g}"
                + (" (log)" if self.sampling == "log" else "")
                + (f" step {self.step:g}" if self.step else ""))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A validated `--tune` file (see the module docstring)."""

    algorithm: str
    max_trials: int
    trial_steps: int
    objective: str  # the task's metric name, e.g. accuracy
    direction: str  # "max" or "min"
    hyperparameters: Tuple[HyperParameter, ...]
    evaluations: int = DEFAULT_EVALUATIONS
    source: str = ""

    @property
    def keras_objective(self) -> str:
        """The Keras log key the oracle ranks trials by (the eval split's metric)."""
        return "val_" + self.objective

    @property
    def names(self) -> List[str]:
        return [h.name for h in self.hyperparameters]

    def grid_size(self) -> Optional[int]:
        sizes = [h.grid() for h in self.hyperparameters]
        return None if any(s is None for s in sizes) else math.prod(len(s) for s in sizes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SearchSpace":
        params = tuple(HyperParameter(**{**h, "values": tuple(h["values"])
                                         if h.get("values") is not None else None})
                       for h in values["hyperparameters"])
        return cls(**{**values, "hyperparameters": params})

    def keras_tuner_hyperparameters(self):
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        for h in self.hyperparameters:
            h.declare(hp)
        return hp

    def rounds(self) -> int:
        """Evaluations of a trial given the whole budget (hyperband: its most rounds)."""
        return hyperband_rounds(self.max_trials) if self.algorithm == "hyperband" \
            else self.evaluations

    def steps_per_round(self) -> int:
        return max(1, self.trial_steps // self.rounds())

    def trial_settings(self, settings, values: dict, rounds: Optional[int] = None):
        """The training settings of one trial: `settings` (the job's) with the trial's
        `values`, `rounds` evaluations (default all) of steps_per_round() steps each, no
        backup or early stopping of its own."""
        rounds = rounds or self.rounds()
        per_round = self.steps_per_round()
        changes = {**values, "train_steps": rounds * per_round, "checkpoint_every": per_round,
                   "resume": False}
        if hasattr(settings, "early_stopping_patience"):
            changes["early_stopping_patience"] = 0
        return dataclasses.replace(settings, **changes)

    def make_oracle(self, seed: int):
        """The KerasTuner oracle of `algorithm` (grid, random and bayesian with median
        stopping; random values drawn with WellSeeded's seeds), ranking trials by the eval
        split's objective."""
        import keras_tuner
        from keras_tuner import oracles

        objective = keras_tuner.Objective(self.keras_objective, self.direction)
        common = dict(objective=objective, hyperparameters=self.keras_tuner_hyperparameters(),
                      seed=seed, tune_new_entries=False, allow_new_entries=False)
        if self.algorithm == "hyperband":
            oracle = type("WellSeededHyperbandOracle", (WellSeeded, oracles.HyperbandOracle),
                          {})(max_epochs=self.rounds(), factor=HYPERBAND_FACTOR, **common)
            # KerasTuner's Hyperband has no max_trials (tfx#7778 breaks on it): cap it here.
            oracle.max_trials = self.max_trials
            return oracle
        base = {"grid": oracles.GridSearchOracle, "random": oracles.RandomSearchOracle,
                "bayesian": oracles.BayesianOptimizationOracle}[self.algorithm]
        mixins = (MedianStopping, WellSeeded) if self.algorithm != "grid" else (MedianStopping,)
        return type(base.__name__.replace("Oracle", "MedianStoppingOracle"),
                    (*mixins, base), {})(max_trials=self.max_trials, **common)


def hyperband_bracket_trials(max_rounds: int, factor: int = HYPERBAND_FACTOR) -> int:
    """Trials in KerasTuner's first (most aggressive) Hyperband bracket for `max_rounds`
    (keras_tuner/src/tuners/hyperband.py: _get_size): e.g. 4 for 3 rounds (3 trials of 1
    round, the best of 3 rounds), 13 for 9 (9 of 1, 3 of 3, 1 of 9)."""
    brackets = 0
    epochs = max_rounds
    while epochs >= 1:
        epochs, brackets = epochs / factor, brackets + 1
    top = brackets - 1
    end_size = math.ceil(1 + math.log(max_rounds, factor)) / (top + 1)
    return sum(math.ceil(end_size * factor ** (top - r)) for r in range(top + 1))


def hyperband_rounds(max_trials: int) -> int:
    """The most rounds a Hyperband trial gets (a power of 3, at least 3): the largest whose
    first bracket fits in `max_trials`, so that successive halving happens before max_trials
    stops the search (with 9 rounds, 6 trials would all be 1-round trials of the first
    bracket, never promoted)."""
    rounds = HYPERBAND_FACTOR
    while hyperband_bracket_trials(rounds * HYPERBAND_FACTOR) <= max_trials:
        rounds *= HYPERBAND_FACTOR
    return rounds


# -- reading and checking the space file ----------------------------------------------------------

def _yaml_loader():
    """PyYAML's safe loader, reading `1e-5` as a number as YAML 1.2 and JSON do (PyYAML
    follows YAML 1.1, where a float needs a dot and a signed exponent: `1e-5` would be the
    string "1e-5")."""
    import re

    import yaml

    loader = type("SpaceLoader", (yaml.SafeLoader,), {})
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                       |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                       |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                       |[-+]?\.(?:inf|Inf|INF)
                       |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return loader


def read_space(path: str) -> dict:
    """The file's mapping (YAML, of which JSON is a subset; `1e-5` is a number). Raises
    ConfigError."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.load(f, Loader=_yaml_loader())  # noqa: S506  (a safe loader)
    except OSError as e:
        raise ConfigError(f"--tune {path}: cannot be read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"--tune {path}: not YAML or JSON ({e})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--tune {path}: expected a mapping with `hyperparameters:` (and "
                          "algorithm, max_trials, trial_steps), not "
                          f"{type(raw).__name__}")
    return raw


def searchable(settings) -> Dict[str, str]:
    """{setting: why not} for the settings of `settings`' class a search may not change."""
    fixed = dict(NOT_SEARCHED)
    for name in getattr(type(settings), "TOKENIZE_SETTINGS", ()):
        fixed[name] = "read by the Tokenize step, which runs once for every trial"
    return fixed


def parse_space(raw: dict, settings, objectives: Dict[str, str], default_objective: str,
                where: str) -> SearchSpace:
    """Checks a space mapping against the job's training `settings` (their class says which
    settings exist; each value is tried on them, so a batch size of 0 is refused as the flag
    refuses it) and the task's `objectives` ({name: "max" | "min"}). Raises ConfigError
    listing every problem, each with its key."""
    problems = []
    where = f"--tune {where}"
    for key in raw:
        if key not in SPACE_KEYS:
            problems.append(f"{key}: not a key of a search space (use {', '.join(SPACE_KEYS)})")
    algorithm = raw.get("algorithm", "random")
    if algorithm not in ALGORITHMS:
        problems.append(f"algorithm: {algorithm!r} is unknown; use {', '.join(ALGORITHMS)}")
    numbers = {}
    for key, default in (("max_trials", None), ("trial_steps", None),
                         ("evaluations", DEFAULT_EVALUATIONS)):
        value = raw.get(key, default)
        if value is None:
            problems.append(f"{key}: missing (a positive integer)")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{key}: {value!r} must be a positive integer")
        else:
            numbers[key] = value
    objective = raw.get("objective", default_objective)
    if objective not in objectives:
        problems.append(f"objective: {objective!r} is not computed by this task during "
                        f"training; use one of {', '.join(sorted(objectives))}")
    fields = {f.name: f for f in dataclasses.fields(type(settings).settings_class())}
    fixed = searchable(settings)
    params = []
    entries = raw.get("hyperparameters")
    if not isinstance(entries, dict) or not entries:
        problems.append("hyperparameters: missing or empty: name at least one setting, e.g. "
                        "learning_rate: {min: 1.0e-5, max: 1.0e-4, sampling: log}")
        entries = {}
    for name, spec in entries.items():
        key = f"hyperparameters.{name}"
        if name not in fields:
            takes = sorted(n for n in fields if n not in fixed)
            problems.append(f"{key}: not a setting of this job; it takes {', '.join(takes)}")
            continue
        if name in fixed:
            problems.append(f"{key}: cannot be searched ({fixed[name]})")
            continue
        param, errors = _parameter(key, name, spec, settings)
        problems.extend(errors)
        if param:
            params.append(param)
    if "train_steps" in entries and algorithm == "hyperband":
        problems.append("hyperparameters.train_steps: hyperband sets each trial's steps itself")
    space = None
    if not problems:
        space = SearchSpace(algorithm=algorithm, max_trials=numbers["max_trials"],
                            trial_steps=numbers["trial_steps"], objective=objective,
                            direction=objectives[objective], hyperparameters=tuple(params),
                            evaluations=numbers["evaluations"], source=where.split(" ", 1)[1])
        problems.extend(_budget_problems(space))
    if problems:
        raise ConfigError(f"{where}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n"
                          + "\n".join(f"  - {p}" for p in problems))
    return space


def _budget_problems(space: SearchSpace) -> List[str]:
    problems = []
    if space.algorithm == "grid":
        size = space.grid_size()
        if size is None:
            continuous = [h.name for h in space.hyperparameters if h.grid() is None]
            problems.append(f"algorithm: grid needs finite values: give "
                            f"{', '.join('hyperparameters.' + n for n in continuous)} a `step` "
                            "or `values`")
        elif size > space.max_trials:
            problems.append(f"max_trials: the grid has {size} points but max_trials is "
                            f"{space.max_trials}: raise max_trials to {size} or shrink the grid")
    if space.trial_steps < space.rounds():
        problems.append(f"trial_steps: {space.trial_steps} is fewer than the {space.rounds()} "
                        "evaluations a trial makes"
                        + (f" (hyperband with max_trials {space.max_trials}: {space.rounds()} "
                           "rounds)" if space.algorithm == "hyperband" else "")
                        + f"; give at least {space.rounds()}")
    if space.algorithm == "hyperband" and space.max_trials < hyperband_bracket_trials(3):
        problems.append(f"max_trials: hyperband needs at least {hyperband_bracket_trials(3)} "
                        f"trials to halve anything (3 of 1 round, the best of them for 3)")
    return problems


def _parameter(key: str, name: str, spec, settings) -> Tuple[Optional[HyperParameter], list]:
    field_type = type(getattr(settings, name))
    default = getattr(settings, name)
    if field_type is type(None):  # an Optional setting left unset: judge by its annotation
        field_type = float
    if not isinstance(spec, dict):
        return None, [f"{key}: give {{values: [...]}} or {{min: ..., max: ...}}, not {spec!r}"]
    unknown = sorted(set(spec) - {"values", "min", "max", "sampling", "step"})
    if unknown:
        return None, [f"{key}: unknown key(s) {', '.join(unknown)} (use values, or min, max, "
                      "sampling, step)"]
    if "values" in spec:
        values = spec["values"]
        if set(spec) != {"values"}:
            return None, [f"{key}: give `values` or a range (min, max), not both"]
        if not isinstance(values, list) or not values:
            return None, [f"{key}: values must be a non-empty list"]
        if len(set(map(repr, values))) != len(values):
            return None, [f"{key}: values repeat"]
        errors = [e for v in values for e in _value_problems(key, name, v, settings, default)]
        if len({type(v) for v in values}) > 1:
            errors.append(f"{key}: values must be of one type, e.g. all numbers written "
                          "alike (1.0e-5 and 0.0001, not 1e-5 and 1)")
        return (None if errors else HyperParameter(name, values=tuple(values))), errors
    if "min" not in spec or "max" not in spec:
        return None, [f"{key}: a range needs min and max (or give values: [...])"]
    low, high, sampling, step = spec["min"], spec["max"], spec.get("sampling", "linear"), spec.get("step")
    errors = []
    if field_type not in (int, float) or isinstance(default, bool):
        return None, [f"{key}: {name} takes {field_type.__name__} values: give values: [...]"]
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            errors.append(f"{key}: min and max must be numbers, not {bound!r}")
    if errors:
        return None, errors
    integer = field_type is int
    if integer and not (isinstance(low, int) and isinstance(high, int)):
        errors.append(f"{key}: {name} is an integer setting: give integer min and max")
    if low >= high:
        errors.append(f"{key}: min {low} must be below max {high} (an empty or reversed range)")
    if sampling not in SAMPLINGS:
        errors.append(f"{key}: sampling {sampling!r} is unknown; use linear or log")
    elif sampling == "log" and low <= 0:
        errors.append(f"{key}: a log range must stay above 0 (min {low})")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                             or step <= 0 or (integer and not isinstance(step, int))):
        errors.append(f"{key}: step {step!r} must be a positive number (an integer for "
                      f"{name})")
    if sampling == "log" and step is not None:
        errors.append(f"{key}: give a log range or a step, not both")
    for bound in (low, high):
        errors.extend(_value_problems(key, name, bound, settings, default))
    if errors:
        return None, sorted(set(errors), key=errors.index)
    return HyperParameter(name, min=low, max=high, sampling=sampling, step=step,
                          integer=integer), []


def _value_problems(key, name, value, settings, default) -> List[str]:
    """Why `value` is not a valid value of setting `name` (the setting's own check)."""
    expected = type(default) if default is not None else float
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        kind = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
        return [f"{key}: {value!r} is not a valid {name} ({kind.get(expected, expected.__name__)})"]
    try:
        dataclasses.replace(settings, **{name: value})
    except (ConfigError, ValueError) as e:
        return [f"{key}: {value!r} is not a valid {name}: {e}"]
    return []


def load_values(path: str, settings) -> Dict[str, object]:
    """The settings of `best_hyperparameters.txt` (TFX Tuner's: a KerasTuner HyperParameters
    config, whose `values` are used) or of a plain JSON/YAML mapping {setting: value}, checked
    against `settings` as a space's values are. Raises ConfigError."""
    raw = read_space(path) if not path.endswith(".txt") else _read_json(path)
    values = raw.get("values", raw) if isinstance(raw, dict) else None
    if not isinstance(values, dict):
        raise ConfigError(f"--hyperparameters-from {path}: expected a mapping of settings")
    values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
    fields = {f.name for f in dataclasses.fields(type(settings).settings_class())}
    problems = [f"{name}: not a setting of this job" for name in values if name not in fields]
    problems += [p for name, value in values.items() if name in fields
                 for p in _value_problems(name, name, value, settings, getattr(settings, name))]
    if problems:
        raise ConfigError(f"--hyperparameters-from {path}: " + "; ".join(problems))
    return values


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"--hyperparameters-from {path}: cannot be read as JSON ({e})") from None


def searched_values(hyperparameters: Optional[dict]) -> Dict[str, object]:
    """The setting values of a TFX `hyperparameters` input (a HyperParameters config:
    `{"space": ..., "values": ...}`), without KerasTuner's own `tuner/...` entries."""
    if not hyperparameters:
        return {}
    values = hyperparameters.get("values", hyperparameters)
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


# -- sampling -----------------------------------------------------------------------------------

class WellSeeded:
    """Mixed into KerasTuner's random, Bayesian and Hyperband oracles: their random values
    (`Oracle._random_values`, keras_tuner/src/engine/oracle.py) drawn as KerasTuner draws them,
    one `hp.random_sample(seed)` per setting, but with each seed a hash of (the oracle's seed, a
    counter) instead of the counter itself. KerasTuner seeds `random.Random(n)` afresh with
    consecutive integers n, whose first draws are correlated: with seed 42 and four settings,
    the second setting's draws (seeds 43, 47, 51, ...) are all below 0.5, so a random search
    over `batch_size: {values: [16, 32]}` tried 16 in every trial."""

    def _random_values(self):
        import hashlib

        from keras_tuner.src.engine import hyperparameters as hp_module

        collisions = 0
        while True:
            hps = hp_module.HyperParameters()
            for hp in self.hyperparameters.space:
                hps.merge([hp])
                if hps.is_active(hp):
                    digest = hashlib.sha256(f"{self.seed}:{self._seed_state}".encode()).digest()
                    hps.values[hp.name] = hp.random_sample(int.from_bytes(digest[:8], "big"))
                    self._seed_state += 1
            if self._duplicate(hps.values):
                collisions += 1
                if collisions > self._max_collisions:
                    return None
                continue
            return hps.values


# -- early stopping -----------------------------------------------------------------------------

class MedianStopping:
    """Mixed into a KerasTuner oracle: Vizier's median stopping rule (module docstring). The
    decision is the oracle's (the chief's, when trials run in several processes), returned as
    the trial's status "STOPPED" from `update_trial`; `stopped` keeps {trial_id: step}."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopped = {}

    def update_trial(self, trial_id, metrics, step=0):
        trial = super().update_trial(trial_id, metrics, step=step)
        name = self.objective.name
        if name not in metrics or trial_id in self.stopped:
            return trial
        mine = [o.value[0] if isinstance(o.value, list) else o.value
                for o in trial.metrics.get_history(name) if o.step <= step]
        best = max(mine) if self.objective.direction == "max" else min(mine)
        others = []
        for other_id in self.start_order:
            other = self.trials[other_id]
            if other_id == trial_id or not other.metrics.exists(name):
                continue
            history = [o for o in other.metrics.get_history(name) if o.step <= step]
            if history and max(o.step for o in other.metrics.get_history(name)) >= step:
                others.append(statistics.mean(
                    o.value[0] if isinstance(o.value, list) else o.value for o in history))
        if len(others) < MIN_TRIALS_TO_STOP:
            return trial
        median = statistics.median(others)
        worse = best < median if self.objective.direction == "max" else best > median
        if worse:
            self.stopped[trial_id] = int(step)
            trial.status = "STOPPED"
        return trial

    def get_state(self):
        return {**super().get_state(), "median_stopped": self.stopped}

    def set_state(self, state):
        super().set_state(state)
        self.stopped = dict(state.get("median_stopped", {}))


# -- the tuner ----------------------------------------------------------------------------------

TRIAL_RECORD = "lmpipe_trial.json"


def trial_record_path(log_root: str, trial_id: str) -> str:
    """Where a trial's record is written: beside its TensorBoard logs, in the Tuner's output
    (a cluster path on Vertex AI, where trials run on other machines than the chief's)."""
    return os.path.join(log_root, trial_id, TRIAL_RECORD)


def make_tuner(space: SearchSpace, settings, train_trial: Callable, directory: str,
               log_root: str, seed: int):
    """A keras_tuner.Tuner whose trials call `train_trial(settings, log_dir, callbacks)` (a
    family's training, no export; returns the trained model) with the trial's settings.
    KerasTuner's state is under `directory`; each trial's TensorBoard logs under
    `log_root/<trial id>`, and its record (settings, objective by step, steps, seconds, how it
    ended) there too (trial_record_path)."""
    import keras_tuner

    class TrialTuner(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            return run_one_trial(self.oracle, trial, space, settings, train_trial, log_root)

        def save_model(self, trial_id, model, step=0):  # the final Trainer trains the model
            pass

        def load_model(self, trial):
            raise NotImplementedError("lmpipe's search keeps no trial models")

    return TrialTuner(oracle=space.make_oracle(seed), directory=directory,
                      project_name="search")


def run_one_trial(oracle, trial, space: SearchSpace, settings, train_trial: Callable,
                  log_root: str) -> dict:
    """Trains one trial, reporting the objective to `oracle` at each evaluation (it may stop
    the trial), and writes its record. Returns {objective key: its best value}."""
    import keras
    from absl import logging

    values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
    rounds = trial.hyperparameters.values.get("tuner/epochs")
    trial_settings = space.trial_settings(settings, values, rounds)
    key, direction = space.keras_objective, space.direction
    record = {"trial_id": trial.trial_id, "hyperparameters": values,
              "budget_steps": trial_settings.train_steps, "history": [], "ended": "completed",
              # which process ran it (KerasTuner's id of a parallel search's worker)
              "tuner_id": os.environ.get("KERASTUNER_TUNER_ID", "tuner0"), "pid": os.getpid()}

    class Report(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                record["ended"] = f"diverged (training loss {float(loss)})"
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            # optimizer updates so far (a diverged trial's last round ends early)
            step = int(self.model.optimizer.iterations.numpy())
            if key not in logs:
                raise ValueError(f"the objective {key} is not among the trial's metrics "
                                 f"{sorted(logs)}")
            value = float(logs[key])
            record["history"].append({"step": step, "value": value,
                                      "loss": float(logs.get("loss", float("nan")))})
            if not math.isfinite(value):
                record["ended"] = f"diverged ({key} {value})"
                self.model.stop_training = True
            if record["ended"].startswith("diverged"):
                return
            status = oracle.update_trial(trial.trial_id, {key: value}, step=step).status
            if status == "STOPPED" and step < trial_settings.train_steps:
                record["ended"] = (f"stopped early at step {step}: below the median of the "
                                   "earlier trials" if direction == "max" else
                                   f"stopped early at step {step}: above the median of the "
                                   "earlier trials")
                self.model.stop_training = True
            logging.info("Trial %s, step %d of %d: %s %.4f", trial.trial_id, step,
                         trial_settings.train_steps, key, value)

    started = time.time()
    log_dir = os.path.join(log_root, trial.trial_id)
    print(f"lmpipe: trial {trial.trial_id}: "
          + ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in values.items())
          + f"; up to {trial_settings.train_steps} steps", flush=True)
    train_trial(trial_settings, log_dir, [Report()])
    finite = [h["value"] for h in record["history"] if math.isfinite(h["value"])]
    best = (max(finite) if direction == "max" else min(finite)) if finite else float("nan")
    record.update(objective=best, steps=record["history"][-1]["step"] if record["history"] else 0,
                  seconds=round(time.time() - started, 1), log_dir=log_dir)
    diverged = record["ended"].startswith("diverged")
    if record["ended"] == "completed" and record["steps"] < trial_settings.train_steps:
        record["ended"] = f"stopped early at step {record['steps']}"
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.join(log_root, trial.trial_id))
    with tf.io.gfile.GFile(trial_record_path(log_root, trial.trial_id), "w") as f:
        json.dump(record, f, indent=2)
    print(f"lmpipe: trial {trial.trial_id}: {space.objective} {best:.4f} after "
          f"{record['steps']} steps, {record['seconds']:.0f} s ({record['ended']})", flush=True)
    # A diverged trial's model is useless whatever it scored before: NaN makes KerasTuner
    # mark it INVALID, then FAILED (no retries), never the best.
    return {key: float("nan") if diverged else best}


def trials_table(oracle, log_root: str, direction: str) -> List[dict]:
    """Every trial of a finished search, in the order they started: its settings, objective,
    steps run of its budget, seconds, how it ended, and `best` on the best one."""
    import tensorflow as tf

    rows = []
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        path = trial_record_path(log_root, trial_id)
        record = {}
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                record = json.load(f)
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}
        objective = record.get("objective")
        rows.append({
            "trial_id": trial_id, "hyperparameters": values,
            "objective": None if objective is None or not math.isfinite(objective) else objective,
            "steps": record.get("steps", 0), "budget_steps": record.get("budget_steps"),
            "seconds": record.get("seconds"), "status": str(trial.status),
            "ended": record.get("ended", f"failed: {(trial.message or '').strip()[-300:]}"),
            "stopped_early": record.get("ended", "").startswith(("stopped", "diverged")),
            "history": record.get("history", []), "log_dir": record.get("log_dir"),
            "tuner_id": record.get("tuner_id"), "pid": record.get("pid"), "best": False})
    scored = [r for r in rows if r["objective"] is not None]
    if scored:
        pick = max if direction == "max" else min
        pick(scored, key=lambda r: r["objective"])["best"] = True
    return rows
