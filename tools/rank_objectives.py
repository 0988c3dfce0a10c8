#!/usr/bin/env python3
"""How well each validation figure of a search's trials ranks them as the test set does.

Reads `sgdlab trials --json` outputs (files, or a study folder's study.db through the
sgdlab binary) and prints, for each figure the trials store (val_acc, val_loss,
distorted_acc, distorted_loss), its Spearman rank correlation with the test accuracy
over the finished trials, and the test accuracy of the trials it ranks best. The test
set chooses nothing here: this only says, after a search, which objective would have
chosen well (docs/record-notes.md).

  tools/rank_objectives.py trials1.json [trials2.json ...] [--top 5]
"""
import argparse
import json
import math
import sys

# Each figure and whether higher is better.
FIGURES = [("val_acc", True), ("val_loss", False), ("distorted_acc", True),
           ("distorted_loss", False)]


def ranks(values):
    """Average ranks (1-based) with ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def spearman(x, y):
    return pearson(ranks(x), ranks(y))


def finished(trials):
    out = []
    for t in trials:
        a = t.get("attrs", {})
        if t.get("state") != "COMPLETE" or "test_acc" not in a:
            continue
        row = {"test_acc": float(a["test_acc"]), "number": t["number"]}
        for name, _ in FIGURES:
            if name in a and math.isfinite(float(a[name])):
                row[name] = float(a[name])
        out.append(row)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", help="outputs of sgdlab trials --json")
    p.add_argument("--top", type=int, default=5, help="how many best trials to show")
    a = p.parse_args()
    rows = []
    for f in a.files:
        with open(f) as fh:
            rows += finished(json.load(fh)["trials"])
    if len(rows) < 3:
        sys.exit("rank_objectives.py: fewer than 3 finished trials with a test accuracy")
    print(f"{len(rows)} finished trials; test accuracy {min(r['test_acc'] for r in rows):.4f} "
          f"to {max(r['test_acc'] for r in rows):.4f}")
    # Failed and untrained trials make any figure look good: the correlation among the
    # better half by plain validation accuracy (chosen without the test set) says more.
    by_val = sorted(rows, key=lambda r: -r.get("val_acc", -1))
    better = by_val[: max(3, len(by_val) // 2)]
    print(f"{'figure':<16}{'trials':>7}{'spearman':>10}{'better half':>13}  "
          f"test acc of its top {a.top}")
    for name, higher in FIGURES:
        have = [r for r in rows if name in r]
        if len(have) < 3:
            continue

        def rho(subset):
            return spearman([r[name] if higher else -r[name] for r in subset],
                            [r["test_acc"] for r in subset])

        half = [r for r in better if name in r]
        best = sorted(have, key=lambda r: -r[name] if higher else r[name])[: a.top]
        tops = " ".join(f"{100 * r['test_acc']:.2f}" for r in best)
        print(f"{name:<16}{len(have):>7}{rho(have):>10.3f}"
              f"{rho(half) if len(half) >= 3 else float('nan'):>13.3f}  {tops}")


if __name__ == "__main__":
    main()
