#!/usr/bin/env python3
"""sgdlab export --optuna-journal: Optuna loads the export and sees every trial of the
study as sgdlab stored it (state, parameters and their distributions, value,
intermediate values). Runs a small sweep with pruning, so that COMPLETE and PRUNED
trials are both there. Exits 77 (skipped) where no Python has Optuna.

usage: optuna_export_test.py SGDLAB_BINARY DATA_DIR
"""
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile

try:
    import optuna
    from optuna.storages import JournalFileStorage, JournalStorage
except ImportError:
    print("optuna is not installed for", sys.executable, "- skipped")
    sys.exit(77)

SGDLAB, DATA = sys.argv[1], sys.argv[2]
OPTUNA_STATE = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAILED": "FAIL", "DIVERGED": "FAIL",
                "RUNNING": "RUNNING", "WAITING": "WAITING"}


def run(*args):
    subprocess.run([SGDLAB, *args], check=True, stdout=subprocess.DEVNULL)


def stored_trials(db, name):
    """The trials as sgdlab's SQLite study holds them."""
    con = sqlite3.connect(db)
    (study_id, space), = con.execute("SELECT study_id, space FROM studies WHERE name = ?", (name,))
    trials = {}
    for tid, number, state, params, value in con.execute(
            "SELECT trial_id, number, state, params, value FROM trials WHERE study_id = ?",
            (study_id,)):
        values = dict(con.execute("SELECT epoch, value FROM trial_values WHERE trial_id = ?", (tid,)))
        trials[number] = {"state": state, "params": json.loads(params), "value": value,
                          "intermediate": values}
    return json.loads(space), trials


def check(space, trials, study):
    frozen = study.get_trials(deepcopy=False)
    assert len(frozen) == len(trials), (len(frozen), len(trials))
    for t in frozen:
        want = trials[t.number]
        assert t.state.name == OPTUNA_STATE[want["state"]], (t.number, t.state, want["state"])
        assert set(t.params) == set(want["params"]), (t.params, want["params"])
        for k, v in want["params"].items():
            assert math.isclose(float(t.params[k]), v, rel_tol=1e-12), (k, t.params[k], v)
            d = t.distributions[k]
            spec = space[k] if isinstance(space, dict) else next(p for p in space if p["name"] == k)
            if spec["type"] == "categorical":
                assert [float(c) for c in d.choices] == [float(c) for c in spec["choices"]], k
            else:
                assert (d.low, d.high, d.log) == (spec["low"], spec["high"],
                                                  spec["type"] == "log_uniform"), (k, d)
        if want["value"] is None:
            assert t.value is None, t.value
        else:
            assert math.isclose(t.value, want["value"], rel_tol=1e-12), (t.value, want["value"])
        got = {int(k): v for k, v in t.intermediate_values.items()}
        assert got == {int(k): v for k, v in want["intermediate"].items() if v is not None}, got


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db, journal = os.path.join(tmp, "s.db"), os.path.join(tmp, "s.journal")
        run("sweep", "--model", "mlp", "--trials", "12", "--epochs", "3", "--device", "cpu",
            "--data", DATA, "--study", db, "--name", "export", "--prune", "--sampler", "tpe")
        run("export", "--study", db, "--name", "export", "--optuna-journal", journal)
        space, trials = stored_trials(db, "export")
        study = optuna.load_study(study_name="export",
                                  storage=JournalStorage(JournalFileStorage(journal)))
        assert study.direction == optuna.study.StudyDirection.MAXIMIZE
        check(space, trials, study)
        states = sorted({t.state.name for t in study.trials})
        print(f"optuna {optuna.__version__} loaded {len(study.trials)} trials ({', '.join(states)});"
              f" best {study.best_value:.4f} = sgdlab's best; every trial matches")
        assert math.isclose(study.best_value,
                            max(t["value"] for t in trials.values() if t["state"] == "COMPLETE"))


if __name__ == "__main__":
    main()
