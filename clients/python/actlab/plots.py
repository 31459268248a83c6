"""Figures for papers, from the service's own numbers: each function returns a matplotlib
Figure (save it as SVG or PDF: `fig.savefig("curves.pdf")`). Needs matplotlib
(pip install 'actlab-client[plots]').

- `plot_curves`: a metric per epoch, mean ± standard deviation over the seeds, one line per
  experiment;
- `plot_parameters`: box plots of a learnable activation parameter per block (over channels
  and seeds, at each run's last epoch), the Dual Line paper's figure;
- `plot_leaderboard`: each entry's mean with its 95 % interval, the baseline marked;
- `plot_profiles`: the cross-task board's performance profiles, each score in the legend;
- `plot_response`: each layer's learned activation (mean over channels and seeds) and the
  response region (the network's min-max envelope);
- `plot_functions`: a run's learned functions (a KAN's edges), a row of small curves per
  layer, pykan's picture without its nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actlab.client import ActlabError, Client


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)  # no display needed; a notebook keeps its own
        import matplotlib.pyplot as plt
    except ImportError:
        raise ActlabError(0, "figures need matplotlib (pip install 'actlab-client[plots]')") \
            from None
    return plt


def plot_curves(client: Client, experiment_ids: str | Sequence[str],
                metric: str = "val_accuracy") -> Any:
    """`metric` per epoch for one or more experiments: the mean over seeds, ± one standard
    deviation shaded."""
    plt = _pyplot()
    ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
    fig, ax = plt.subplots(figsize=(6, 4))
    for experiment_id in ids:
        summary = client.summary(experiment_id)
        label = client.experiment(experiment_id)["name"]
        points = [(p["epoch"], p[metric]["mean"], p[metric]["std"]) for p in summary["curves"]
                  if p.get(metric, {}).get("mean") is not None]
        if not points:
            raise ActlabError(0, f"experiment {experiment_id} has no {metric} per epoch")
        epochs, means, stds = zip(*points, strict=True)
        line, = ax.plot(epochs, means, label=label)
        low = [m - (s or 0.0) for m, s in zip(means, stds, strict=True)]
        high = [m + (s or 0.0) for m, s in zip(means, stds, strict=True)]
        ax.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_parameters(client: Client, experiment_id: str, name: str) -> Any:
    """Box plots of learnable parameter `name` per block and position, at each run's last
    epoch (whiskers: min and max; box: quartiles; line: median)."""
    plt = _pyplot()
    boxes = [b for b in client.distributions(experiment_id)["final"] if b["name"] == name]
    if not boxes:
        raise ActlabError(0, f"experiment {experiment_id} recorded no parameter {name!r}")
    boxes.sort(key=lambda b: (b["block"] is None, b["block"] or 0, b["position"] or 0))
    stats = [{"label": f"block {b['block']}" if b["block"] is not None else b["layer"],
              "whislo": b["min"], "q1": b["q1"], "med": b["median"], "q3": b["q3"],
              "whishi": b["max"], "mean": b["mean"], "fliers": []} for b in boxes]
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(stats) + 2), 4))
    ax.bxp(stats, showmeans=True)
    ax.set_ylabel(name)
    ax.set_title(f"{name} per block ({client.experiment(experiment_id)['name']})",
                 fontsize="medium")
    fig.tight_layout()
    return fig


def plot_leaderboard(board: dict[str, Any]) -> Any:
    """A leaderboard (`Client.leaderboard(...)`): each entry's mean and 95 % interval, best
    at the top, the baseline in orange."""
    plt = _pyplot()
    entries = [e for e in board["entries"] if e.get("mean") is not None]
    if not entries:
        raise ActlabError(0, "the leaderboard has no entry with a value")
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(entries) + 1.2))
    for y, e in enumerate(reversed(entries)):
        low, high = e.get("ci95_low"), e.get("ci95_high")
        colour = "tab:orange" if e.get("verdict") == "baseline" else "tab:blue"
        if low is not None and high is not None:
            ax.plot([low, high], [y, y], color=colour)
        ax.plot([e["mean"]], [y], "o", color=colour)
    ax.set_yticks(range(len(entries)), [e["label"] for e in reversed(entries)])
    ax.set_xlabel(f"{board['metric']} ({board.get('stat', 'final')}), mean and 95 % interval")
    fig.tight_layout()
    return fig


def plot_profiles(board: dict[str, Any]) -> Any:
    """The cross-task board's performance profiles (`Client.leaderboard()` without a task):
    per activation, the fraction of comparison groups in which its cost is within a factor
    tau of the best, as steps; the legend gives each score (the area, normalised)."""
    plt = _pyplot()
    profiles = board.get("profiles") or {}
    if not profiles.get("entries"):
        raise ActlabError(0, "the board has no performance profiles (it needs no task and "
                             "at least one comparison group)")
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in profiles["entries"]:
        ax.step(p["tau"], p["rho"], where="post", label=f"{p['label']} ({p['score']:.2f})")
    ax.set_xlim(1, profiles["tau_max"])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"tau: within this factor of the best {profiles['cost']}")
    ax.set_ylabel(f"fraction of {profiles['problems']} comparison groups")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def plot_response(client: Client, experiment_id: str) -> Any:
    """Each layer's learned activation on the grid (mean over channels and seeds) and the
    network's response region (min-max envelope, shaded)."""
    plt = _pyplot()
    region = client.response(experiment_id)
    if not region["layers"]:
        raise ActlabError(0, f"experiment {experiment_id} recorded no response curves")
    fig, ax = plt.subplots(figsize=(5, 4))
    xs = region["xs"]
    ax.fill_between(xs, region["envelope"]["min"], region["envelope"]["max"], color="0.85",
                    label="response region")
    for layer in region["layers"]:
        ax.plot(xs, layer["mean"], linewidth=1, label=layer["layer"])
    ax.set_xlabel("x")
    ax.set_ylabel("activation")
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def plot_functions(client: Client, run_id: str, per_layer: int = 32) -> Any:
    """A run's learned univariate functions (each KAN edge, each bspline channel), one row of
    small curves per activation slot, at most `per_layer` of each (in channel order)."""
    plt = _pyplot()
    functions = client.functions(run_id, limit=4096)
    layers: dict[str, list[dict[str, Any]]] = {}
    for f in functions:
        shown = layers.setdefault(f["layer"], [])
        if len(shown) < per_layer:
            shown.append(f)
    if not layers:
        raise ActlabError(0, f"run {run_id} has no learned functions recorded")
    columns = max(len(v) for v in layers.values())
    fig, axes = plt.subplots(len(layers), columns, squeeze=False,
                             figsize=(0.9 * columns + 1, 1.0 * len(layers) + 0.5))
    for row, (layer, shown) in enumerate(layers.items()):
        for column in range(columns):
            ax = axes[row][column]
            ax.set_xticks([])
            ax.set_yticks([])
            if column < len(shown):
                ax.plot(shown[column]["x"], shown[column]["y"], linewidth=0.8)
            else:
                ax.axis("off")
        axes[row][0].set_ylabel(layer, fontsize=6, rotation=0, ha="right")
    fig.suptitle(f"learned functions of run {run_id[:8]}", fontsize=8)
    return fig
