#!/usr/bin/python3
"""Wall time of one Optuna study run through sgdlab.optuna.optimize in packs, beside the
same study with every trial trained alone (lanes=1): the same sampler, seed, pruner and
trials. Prints both times, their ratio, and what each study found.

    PYTHONPATH=build/python /usr/bin/python3 tools/bench_optuna.py [--model mlp]
        [--trials 32] [--lanes 8] [--epochs 10] [--device cpu] [--data data/usps]
        [--no-pruner]
"""
import argparse
import time

import optuna

import sgdlab
import sgdlab.optuna


def suggest(trial):
    return {"lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
            "momentum": trial.suggest_float("momentum", 0.5, 0.95),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5)}


def run(args, data, lanes):
    pruner = optuna.pruners.NopPruner() if args.no_pruner else optuna.pruners.MedianPruner(
        n_startup_trials=4, n_warmup_steps=2)
    study = optuna.create_study(direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.TPESampler(seed=args.seed))
    start = time.perf_counter()
    sgdlab.optuna.optimize(study, suggest, args.model, data, n_trials=args.trials, lanes=lanes,
                           epochs=args.epochs, device=args.device)
    seconds = time.perf_counter() - start
    states = [t.state.name for t in study.trials]
    epochs = sum(len(t.intermediate_values) for t in study.trials)
    return seconds, study.best_value, states.count("COMPLETE"), states.count("PRUNED"), epochs


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--trials", type=int, default=32)
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-pruner", action="store_true")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = sgdlab.load_data(args.data)
    print(f"{args.trials} trials of {args.model}, {args.epochs} epochs, TPE seed {args.seed}, "
          f"{'no pruner' if args.no_pruner else 'median pruner'}, device {args.device}")
    print(f"{'lanes':>6} {'seconds':>9} {'best val_acc':>13} {'complete':>9} {'pruned':>7} "
          f"{'epochs reported':>16}")
    rows = {}
    for lanes in (args.lanes, 1):
        rows[lanes] = run(args, data, lanes)
        s, best, done, pruned, epochs = rows[lanes]
        print(f"{lanes:>6} {s:>9.1f} {100 * best:>12.2f}% {done:>9} {pruned:>7} {epochs:>16}")
    print(f"packs of {args.lanes} vs one trial at a time: "
          f"{rows[1][0] / rows[args.lanes][0]:.2f}x the speed")


if __name__ == "__main__":
    main()
