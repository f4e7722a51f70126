"""What a finished search leaves in its `tuner_results` artifact: `tuner_results.json` (every
trial), `search.json` (the search), `trials.png` (the objective against each searched setting,
matplotlib) and the HParams plugin's experiment config over the trials' TensorBoard sessions
(`tensorboard/`, one session per trial: models/core/training.py: write_hparams)."""

import json
import math
import os
from typing import List

RESULTS_FILE = "tuner_results.json"
SEARCH_FILE = "search.json"
PLOT_FILE = "trials.png"


def write_results(results_dir: str, rows: List[dict], search: dict, space) -> None:
    """Writes the four outputs above. `rows`: models/core/tuning.py: trials_table;
    `space`: the SearchSpace."""
    import tensorflow as tf

    records = [{"trial_id": r["trial_id"], "score": r["objective"], **r["hyperparameters"],
                **{k: r[k] for k in ("steps", "budget_steps", "seconds", "ended",
                                     "stopped_early", "best", "history", "status",
                                     "tuner_id", "pid")}}
               for r in rows]
    tf.io.gfile.makedirs(results_dir)
    with tf.io.gfile.GFile(os.path.join(results_dir, RESULTS_FILE), "w") as f:
        json.dump(records, f, indent=2)
    with tf.io.gfile.GFile(os.path.join(results_dir, SEARCH_FILE), "w") as f:
        json.dump(search, f, indent=2)
    plot_trials(rows, space, os.path.join(results_dir, PLOT_FILE))
    write_hparams_config(os.path.join(results_dir, "tensorboard"), space)


def plot_trials(rows: List[dict], space, path: str) -> None:
    """One panel per searched setting: each trial's objective (y) at its value (x; a log axis
    for a log range), completed trials as dots, trials stopped early as crosses, the best
    circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(space.hyperparameters)
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params), 3.2), squeeze=False,
                             sharey=True)
    for ax, param in zip(axes[0], params):
        for stopped, marker, label in ((False, "o", "completed"), (True, "x", "stopped early")):
            points = [(r["hyperparameters"].get(param.name), r["objective"]) for r in rows
                      if r["stopped_early"] == stopped and r["objective"] is not None]
            if points:
                xs, ys = zip(*points)
                if param.values is not None and isinstance(param.values[0], str):
                    xs = [list(param.values).index(x) for x in xs]
                ax.scatter(xs, ys, marker=marker, label=label,
                           color="tab:blue" if not stopped else "tab:red")
        best = [r for r in rows if r["best"]]
        if best:
            x = best[0]["hyperparameters"].get(param.name)
            if param.values is not None and isinstance(param.values[0], str):
                x = list(param.values).index(x)
            ax.scatter([x], [best[0]["objective"]], s=160, facecolors="none",
                       edgecolors="black", label="best")
        if param.sampling == "log":
            ax.set_xscale("log")
        if param.values is not None and isinstance(param.values[0], str):
            ax.set_xticks(range(len(param.values)), list(param.values))
        ax.set_xlabel(param.name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"eval {space.objective} ({space.direction})")
    axes[0][-1].legend(fontsize=7, loc="best")
    scored = [r["objective"] for r in rows if r["objective"] is not None]
    fig.suptitle(f"{space.algorithm} search: {len(rows)} trials, best {space.objective} "
                 + (f"{(max if space.direction == 'max' else min)(scored):.4f}"
                    if scored else "n/a"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_hparams_config(log_dir: str, space) -> None:
    """TensorBoard's HParams experiment over the trials' sessions (`log_dir/<trial id>`): the
    searched settings as its hyper-parameters, the eval objective and loss as its metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams = []
    for param in space.hyperparameters:
        if param.values is not None:
            domain = hp.Discrete(list(param.values))
        elif param.integer:
            domain = hp.IntInterval(int(param.min), int(param.max))
        else:
            domain = hp.RealInterval(float(param.min), float(param.max))
        hparams.append(hp.HParam(param.name, domain))
    names = {space.objective, "loss"}
    metrics = [hp.Metric(f"epoch_{name}", group="validation",
                         display_name=f"eval {name}") for name in sorted(names)]
    tf.io.gfile.makedirs(log_dir)
    with tf.summary.create_file_writer(log_dir).as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)


def table_lines(records: List[dict], search: dict) -> List[str]:
    """The printed trials table: one line per trial (its settings, objective, steps run of
    its budget, seconds, how it ended), the best marked with *."""
    names = [h["name"] for h in search["space"]["hyperparameters"]]
    header = (f"  {'trial':<6}" + "".join(f"{n[:16]:>17}" for n in names)
              + f"{search['objective'][:14]:>15}{'steps':>12}{'seconds':>9}  ended")
    lines = [header]
    for r in records:
        cells = "".join(f"{_cell(r.get(n)):>17}" for n in names)
        score = "n/a" if r["score"] is None or not math.isfinite(r["score"]) else f"{r['score']:.4f}"
        steps = f"{r['steps']}/{r['budget_steps']}"
        lines.append(f"{'*' if r['best'] else ' '} {r['trial_id']:<6}{cells}{score:>15}"
                     f"{steps:>12}{_cell(r['seconds']):>9}  {r['ended']}")
    return lines


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)
