#!/usr/bin/python3
"""Figures of an sgdlab study: reads DIR/report.json, writes DIR/figures/*.png.

    /usr/bin/python3 tools/figures.py DIR

Needs matplotlib for /usr/bin/python3 (Debian: python3-matplotlib).
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

PARAM_ORDER = ["lr", "batch", "momentum", "dropout"]
AXIS_LABELS = {"lr": "log10(learning rate)", "batch": "log2(batch size)", "momentum": "momentum",
               "dropout": "dropout rate"}


def values(seq):
    return [math.nan if v is None else v for v in seq]


def ordered(report, mapping):
    """The models of `mapping` in the study's order (JSON objects come back sorted)."""
    return [m for m in report["config"]["models"] if m in mapping]


def short(model):
    """A model's name in titles and file names: a model file's stem (data/models/cnn-bn.json: cnn-bn)."""
    base = os.path.basename(model)
    return base[:-5] if base.endswith(".json") else base


def integer_epochs(ax):
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def save(fig, out, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name + ".png"), dpi=110)
    plt.close(fig)


def kde(report, out):
    for model in ordered(report, report["models"]):
        n = report["models"][model]["narrowing"]
        params = [p for p in PARAM_ORDER if p in n["kde"]] + [p for p in n["kde"] if p not in PARAM_ORDER]
        fig, axes = plt.subplots(1, len(params), figsize=(4 * len(params), 3.4))
        for ax, p in zip(axes, params):
            c = n["kde"][p]
            ax.plot(c["grid"], c["all"], label=f"all {n['n_trials']} trials", color="tab:blue")
            ax.plot(c["grid"], c["top"], label=f"top {n['n_top']} (20%)", color="tab:orange")
            ax.plot(c["all_values"], [0] * len(c["all_values"]), "|", color="tab:blue", ms=12)
            ax.plot(c["top_values"], [0] * len(c["top_values"]), "|", color="tab:orange", ms=16)
            # The KDE's axis (search/narrow.cpp plot_unit): log2 for the batch size, log10
            # for log-scaled parameters, the value itself otherwise.
            iv = n.get("intervals", {}).get(p)
            if iv:
                lo, hi = iv["low"], iv["high"]
                if iv.get("log_scale", p == "lr"):
                    lo, hi = math.log10(lo), math.log10(hi)
                ax.axvspan(lo, hi, color="tab:orange", alpha=0.12, label="narrowed interval")
            mode = n.get("mode", {}).get(p)
            if mode is not None:
                x = math.log2(mode) if p == "batch" else mode
                ax.axvline(x, color="tab:orange", ls="--", label=f"most frequent in top: {mode:g}")
            ax.set_xlabel(AXIS_LABELS.get(p, p))
            ax.set_ylabel("density")
            ax.set_title(f"{p}")
            ax.legend(fontsize=7)
        fig.suptitle(f"{short(model).upper()}: KDE of the coarse random search, all trials vs top 20%")
        save(fig, out, f"kde_{short(model)}")


def objective_label(report):
    objective = report["config"].get("objective", "val_acc")
    label = {"val_acc": "validation accuracy (%)", "distorted_acc": "distorted validation accuracy (%)"}
    return label.get(objective, objective + " (x100)")


def history(report, out):
    models = ordered(report, report["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        m = report["models"][model]
        offset = 0
        for phase, color in (("coarse", "tab:blue"), ("fine", "tab:green")):
            trials = m[phase]["trials"]
            xs = [offset + t["number"] for t in trials]
            ys = [100 * (t["value"] if t["value"] is not None else math.nan) for t in trials]
            ax.plot(xs, ys, "o", color=color, ms=4, label=f"{phase} ({'random' if phase == 'coarse' else 'TPE'})")
            best, run = -math.inf, []
            for y in ys:
                best = max(best, y) if not math.isnan(y) else best
                run.append(best)
            ax.step(xs, run, where="post", color=color, lw=1.5, label=f"best so far ({phase})")
            offset += len(trials)
        ax.set_ylim(max(0, ax.get_ylim()[0]), 100)
        ax.set_xlabel("trial (coarse, then fine)")
        ax.set_ylabel(objective_label(report))
        ax.set_title(f"{short(model).upper()} optimisation history")
        ax.legend(fontsize=7, loc="lower right")
    save(fig, out, "history")


def curves(report, out, key, metric, name, title, ylabel, log=True):
    effect = report.get("effects", {}).get(key)
    if not effect:
        return
    models = ordered(report, effect)
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        for lane in effect[model]["lanes"]:
            ys = values(lane[metric])
            xs = list(range(1, len(ys) + 1))
            label = lane["label"] + (f" (diverged, epoch {lane['diverged_epoch']})" if lane["diverged"] else "")
            ax.plot(xs, ys, marker="o", ms=3, label=label)
        if log:
            ax.set_yscale("log")
        integer_epochs(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{short(model).upper()}: {title}")
        ax.legend(fontsize=7)
    save(fig, out, name)


def confusion(report, out):
    cm = report.get("ensemble_confusion")
    if not cm:
        return
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = ax.imshow(cm, cmap="Blues")
    for t in range(10):
        for p in range(10):
            ax.text(p, t, str(cm[t][p]), ha="center", va="center", fontsize=7,
                    color="white" if cm[t][p] > max(map(max, cm)) / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    acc = report["ensemble"]["per_seed"][0]["test_acc"]
    ax.set_title(f"Ensemble confusion matrix, test set (seed 0, {100 * acc:.2f}%)")
    fig.colorbar(im, ax=ax, label="images")
    save(fig, out, "ensemble_confusion")


def misclassified(report, out, most=100):
    """The test digits the ensemble of all final models gets wrong, with the label, the
    prediction and the ensemble's probability of each: all of them, or the `most` it was
    surest of when there are more."""
    ensemble = report.get("ensemble") or {}
    wrong = (ensemble.get("all_seeds") or {}).get("misclassified")
    if wrong is None:
        return
    n_wrong = len(wrong)
    sure = lambda w: w["p_predicted"] if w["p_predicted"] is not None else -1.0  # noqa: E731
    if n_wrong > most:
        wrong = sorted(wrong, key=sure, reverse=True)[:most]
    cols = 10
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.35 * cols, 1.6 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    p = lambda v: "?" if v is None else f"{v:.2f}"  # noqa: E731 - NaN is null in JSON
    for ax, w in zip(axes.flat, wrong):
        side = math.isqrt(len(w["pixels"]))
        image = [w["pixels"][r * side:(r + 1) * side] for r in range(side)]
        ax.imshow(image, cmap="gray_r")
        ax.set_title(f"{w['label']}→{w['predicted']} ({p(w['p_predicted'])})\n"
                     f"p({w['label']}) = {p(w['p_label'])}", fontsize=7)
    n_test = sum(map(sum, report.get("ensemble_confusion") or [[0]]))
    shown = f"the {len(wrong)} it was surest of" if n_wrong > most else "all of them"
    fig.suptitle(f"The {n_wrong} of {n_test} test digits the ensemble of every final model gets "
                 f"wrong ({100 * (1 - ensemble['all_seeds']['test_acc']):.2f}% error; {shown}): "
                 f"label→prediction (its probability)", fontsize=9)
    save(fig, out, "misclassified")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    with open(os.path.join(root, "report.json")) as f:
        report = json.load(f)
    out = os.path.join(root, "figures")
    os.makedirs(out, exist_ok=True)
    kde(report, out)
    history(report, out)
    curves(report, out, "lr_scaling", "train_loss", "lr_scaling", "learning-rate scaling",
           "training loss (log scale)")
    curves(report, out, "batch", "grad_mean_abs", "batch_gradients", "batch size vs gradient magnitude",
           "mean |gradient| (log scale)")
    curves(report, out, "momentum", "grad_mean_abs", "momentum_gradients", "momentum vs gradient magnitude",
           "mean |gradient| (log scale)")
    curves(report, out, "dropout", "train_loss", "dropout_loss", "dropout vs training loss",
           "training loss (log scale)")
    confusion(report, out)
    misclassified(report, out)
    print(f"figures: wrote {out}")


if __name__ == "__main__":
    main()
