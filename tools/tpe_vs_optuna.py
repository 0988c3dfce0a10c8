#!/usr/bin/python3
"""sgdlab's TPE beside Optuna's on standard test functions (not a CI test).

Runs Optuna's TPESampler (defaults; Debian's python3-optuna, for /usr/bin/python3) and
`sgdlab tpe-benchmark` for the same functions, trials and seeds, and prints the mean and
spread of the best value found (lower is better). Random search is shown for scale.

Optuna before 3.5 left -log(scale) out of its truncated-normal log density
(optuna/optuna#5109, fixed by #5110), so its Parzen densities were not normalised.
sgdlab implements the corrected density. When the installed Optuna has the old
density, the table shows it both as installed and with that one term restored.

    tools/tpe_vs_optuna.py [--sgdlab build/sgdlab] [--trials 30] [--seeds 20]
"""
import argparse
import json
import math
import statistics
import subprocess
import sys

import numpy as np

try:
    import optuna
except ImportError:
    sys.exit("tpe_vs_optuna: needs Optuna for /usr/bin/python3 (apt-get install python3-optuna)")


def quadratic(t):
    lr = t.suggest_float("lr", 1e-7, 1e-1, log=True)
    batch = t.suggest_categorical("batch", [16, 32, 64, 128])
    momentum = t.suggest_float("momentum", 0.5, 0.99)
    dropout = t.suggest_float("dropout", 0.1, 0.7)
    a = (math.log10(lr) + 2.5) / 6
    b = (momentum - 0.9) / 0.49
    c = (dropout - 0.35) / 0.6
    d = (math.log2(batch) - 5) / 3
    return a * a + b * b + c * c + d * d


def branin(t):
    x1 = t.suggest_float("x1", -5, 10)
    x2 = t.suggest_float("x2", 0, 15)
    b, c, s = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - s) * math.cos(x1) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
     [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
     [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
     [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
     [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(t):
    x = [t.suggest_float(f"x{j}", 0, 1) for j in range(6)]
    total = 0.0
    for i in range(4):
        inner = sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))
        total += ALPHA[i] * math.exp(-inner)
    return -total


FUNCTIONS = {"quadratic": (quadratic, 0.0), "branin": (branin, 0.397887), "hartmann6": (hartmann6, -3.32237)}


def truncnorm_is_normalised():
    from optuna.samplers._tpe import _truncnorm
    # A N(0, 0.5) truncated to [-1, 1]: the density at 0 is 1 / (0.5 * sqrt(2 pi) * mass).
    mass = math.erf(2 / math.sqrt(2))
    got = float(_truncnorm.logpdf(np.array([0.0]), np.array([-2.0]), np.array([2.0]), 0.0, 0.5)[0])
    return abs(got - math.log(1 / (0.5 * math.sqrt(2 * math.pi) * mass))) < 1e-6


class restored_truncnorm_scale:
    """Within the block, Optuna's truncnorm.logpdf includes -log(scale) (the #5110 fix)."""

    def __enter__(self):
        from optuna.samplers._tpe import _truncnorm
        self.module, self.original = _truncnorm, _truncnorm.logpdf
        original = self.original
        _truncnorm.logpdf = lambda x, a, b, loc=0, scale=1: original(x, a, b, loc, scale) - np.log(scale)

    def __exit__(self, *exc):
        self.module.logpdf = self.original


def optuna_best(fn, trials, seeds):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best = []
    for seed in range(seeds):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(fn, n_trials=trials)
        best.append(study.best_value)
    return best


def sgdlab_best(binary, name, sampler, trials, seeds):
    out = subprocess.run([binary, "tpe-benchmark", "--function", name, "--sampler", sampler,
                          "--trials", str(trials), "--seeds", str(seeds)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["best"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sgdlab", default="build/sgdlab")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--json", help="also write the table here")
    a = ap.parse_args()
    old_density = not truncnorm_is_normalised()
    print(f"best value after {a.trials} trials, mean ± std over {a.seeds} seeds (lower is better); "
          f"Optuna {optuna.__version__}" + (" (its truncnorm density lacks -log(scale): optuna#5109)"
                                            if old_density else ""))
    columns = ["sgdlab TPE", f"Optuna {optuna.__version__}"] + (["Optuna +#5110 fix"] if old_density else []) \
        + ["sgdlab random"]
    print(f"{'function':<10} {'optimum':>9} " + " ".join(f"{c:>20}" for c in columns) + "  verdict")
    rows = {}
    for name, (fn, optimum) in FUNCTIONS.items():
        runs = {"sgdlab TPE": sgdlab_best(a.sgdlab, name, "tpe", a.trials, a.seeds),
                columns[1]: optuna_best(fn, a.trials, a.seeds)}
        if old_density:
            with restored_truncnorm_scale():
                runs["Optuna +#5110 fix"] = optuna_best(fn, a.trials, a.seeds)
        runs["sgdlab random"] = sgdlab_best(a.sgdlab, name, "random", a.trials, a.seeds)
        m = {k: (statistics.mean(v), statistics.stdev(v)) for k, v in runs.items()}
        # "No worse beyond the spread": our mean within one standard deviation of each Optuna's.
        ok = all(m["sgdlab TPE"][0] <= m[c][0] + m[c][1] for c in columns[1:-1])
        rows[name] = {k: {"mean": v[0], "std": v[1]} for k, v in m.items()} | {"no_worse": ok}
        cell = lambda k: f"{m[k][0]:9.4f} ± {m[k][1]:<8.4f}"
        print(f"{name:<10} {optimum:>9.4f} " + " ".join(f"{cell(c):>20}" for c in columns) +
              f"  {'no worse' if ok else 'WORSE'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
