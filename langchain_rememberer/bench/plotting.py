"""Learning curves of a benchmark result (needs `pip install -e '.[plot]'`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_learning_curves"]

_LABELS = {
    "no_memory": "no memory",
    "rememberer": "REMEMBERER",
    "rememberer_n1": "REMEMBERER, n_step=1",
    "rememberer_no_discouraged": "REMEMBERER, no discouraged",
    "tabular_q": "tabular Q-learning",
}


def plot_learning_curves(result: dict[str, Any], path: str | Path) -> Path:
    """Draw held-out success per epoch (95% CI bars) and recurring-task success; save a PNG."""
    try:
        import matplotlib as mpl  # noqa: PLC0415

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as e:
        msg = "plotting needs matplotlib: pip install -e '.[plot]'"
        raise ImportError(msg) from e
    methods = result["methods"]
    config = result["config"]
    fig, (curve, bars) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for index, (name, data) in enumerate(methods.items()):
        shift = 0.04 * (index - (len(methods) - 1) / 2)  # keep overlapping curves visible
        epochs = [e["epoch"] + shift for e in data["epochs"]]
        success = [e["eval"]["success"] for e in data["epochs"]]
        low = [s - e["eval"]["success_ci"][0] for s, e in zip(success, data["epochs"], strict=True)]
        high = [
            e["eval"]["success_ci"][1] - s for s, e in zip(success, data["epochs"], strict=True)
        ]
        curve.errorbar(
            epochs, success, yerr=[low, high], marker="o", capsize=3, label=_LABELS.get(name, name)
        )
    curve.set_xlabel("training epoch")
    curve.set_ylabel(f"success on {config['test_seeds']} held-out games")
    curve.set_ylim(0, 1)
    curve.set_xticks(range(1, config["epochs"] + 1))
    curve.set_title("held-out games, memory frozen", fontsize=10)
    fig.suptitle(
        f"{config['env']}  {config['game_params']}  ({config['max_steps']} steps)", fontsize=9
    )
    curve.legend(fontsize=8)
    names = list(methods)
    values = [methods[n]["recurring"]["success"] for n in names]
    errors = [
        [v - methods[n]["recurring"]["success_ci"][0] for n, v in zip(names, values, strict=True)],
        [methods[n]["recurring"]["success_ci"][1] - v for n, v in zip(names, values, strict=True)],
    ]
    bars.bar(range(len(names)), values, yerr=errors, capsize=3, color="tab:gray")
    bars.set_xticks(range(len(names)), [_LABELS.get(n, n) for n in names], rotation=30, ha="right")
    bars.set_ylim(0, 1)
    bars.set_title(f"recurring: the {config['train_seeds']} train games, greedy", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
