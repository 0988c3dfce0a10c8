"""sgdlab.optuna.optimize with Optuna 3.1 (Debian's python3-optuna): TPE and the median
pruner over MLP packs, two processes on one SQLite study, and Optuna's plots."""
import os
import subprocess
import sys
import textwrap

import optuna
import pytest

import sgdlab
import sgdlab.optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
EPOCHS = 4


def suggest(trial):
    return {"lr": trial.suggest_float("lr", 1e-4, 0.5, log=True),
            "momentum": trial.suggest_float("momentum", 0.5, 0.95),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "batch": trial.suggest_categorical("batch", [32, 64])}


def expect_every_trial_finished(study, n):
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == n
    assert len({t.number for t in trials}) == n
    states = {t.state for t in trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}, states
    for t in trials:
        steps = sorted(t.intermediate_values)
        # Every epoch the trial trained, from the first, and all of them when complete.
        assert steps == list(range(1, len(steps) + 1)), (t.number, steps)
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert len(steps) == EPOCHS
            assert t.value == t.intermediate_values[EPOCHS]
    return trials


def test_tpe_and_the_median_pruner_over_packs_of_eight(npz, tmp_path):
    data = sgdlab.load_data(npz)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=8),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=4,
                                                                   n_warmup_steps=1))
    sgdlab.optuna.optimize(study, suggest, "mlp", data, n_trials=32, lanes=8, epochs=EPOCHS,
                           device="cpu")
    trials = expect_every_trial_finished(study, 32)
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    assert study.best_value > 0.5
    # Each trial's value is what that trial trains to alone.
    best = study.best_trial
    params = dict(best.params)
    batch = params.pop("batch")
    pack = sgdlab.Pack("mlp", data, batch=batch, epochs=EPOCHS, device="cpu",
                       lanes=[dict(params, seed=best.number + 1)])
    assert [ep.val_acc[0] for ep in pack][-1] == best.value
    # Optuna's own plots draw from the study.
    ax = optuna.visualization.matplotlib.plot_optimization_history(study)
    ax.figure.savefig(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 1000


def test_two_processes_share_one_sqlite_study(npz, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    # Each worker marks its trials, and both start together (a barrier of two files).
    worker = textwrap.dedent(f"""
        import os, sys, time, optuna, sgdlab, sgdlab.optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        me = sys.argv[1]
        open(os.path.join({str(tmp_path)!r}, "ready-" + me), "w").close()
        while len([f for f in os.listdir({str(tmp_path)!r}) if f.startswith("ready-")]) < 2:
            time.sleep(0.01)
        def suggest(trial):
            trial.set_user_attr("worker", me)
            return {{"lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
                     "momentum": trial.suggest_float("momentum", 0.5, 0.95)}}
        study = optuna.load_study(study_name="shared", storage={storage!r},
                                  sampler=optuna.samplers.RandomSampler(seed=int(me)))
        sgdlab.optuna.optimize(study, suggest, "mlp", sgdlab.load_data({npz!r}), n_trials=8,
                               lanes=4, epochs={EPOCHS}, device="cpu")
    """)
    workers = [subprocess.Popen([sys.executable, "-c", worker, str(seed)], env=os.environ,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = expect_every_trial_finished(study, 16)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 16  # none duplicated
    owners = [t.user_attrs["worker"] for t in sorted(trials, key=lambda t: t.number)]
    assert owners.count("1") == owners.count("2") == 8
    # The two asked in turns (each asks its next pack while the other trains), so their
    # trial numbers interleave: neither ran all of its trials before the other began.
    assert owners != sorted(owners) and owners != sorted(owners, reverse=True), owners


def test_an_exception_leaves_no_trial_running(npz):
    study = optuna.create_study(direction="maximize")
    calls = []

    def bad(trial):
        calls.append(trial.number)
        if len(calls) == 3:
            raise RuntimeError("suggest broke")
        return {"lr": 0.05}

    with pytest.raises(RuntimeError, match="suggest broke"):
        sgdlab.optuna.optimize(study, bad, "mlp", sgdlab.load_data(npz), n_trials=8, lanes=4,
                               epochs=1, device="cpu")
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert len(states) == 3
    assert all(s == optuna.trial.TrialState.FAIL for s in states)
    # Settings the engine refuses fail their trials, with the reason, and raise nothing.
    study = optuna.create_study(direction="maximize")
    sgdlab.optuna.optimize(study, lambda t: {"lr": -1.0}, "mlp", sgdlab.load_data(npz),
                           n_trials=2, lanes=2, epochs=1, device="cpu")
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.FAIL] * 2
    assert "lr: expected a learning rate > 0" in study.trials[0].user_attrs["sgdlab_fail_reason"]


def test_a_diverging_lane_is_told_fail_and_the_others_complete(npz):
    study = optuna.create_study(direction="maximize")
    lrs = iter([0.05, 1e30])  # the second lane's loss turns infinite
    sgdlab.optuna.optimize(study, lambda t: {"lr": next(lrs), "momentum": 0.9}, "mlp",
                           sgdlab.load_data(npz), n_trials=2, lanes=2, epochs=2, device="cpu")
    ok, bad = study.get_trials()
    assert ok.state == optuna.trial.TrialState.COMPLETE
    assert bad.state == optuna.trial.TrialState.FAIL
    assert "NaN or infinite" in bad.user_attrs["sgdlab_fail_reason"]


def test_bad_arguments(npz):
    study = optuna.create_study()
    data = sgdlab.load_data(npz)
    with pytest.raises(ValueError, match="objective"):
        sgdlab.optuna.optimize(study, suggest, "mlp", data, n_trials=1, objective="accuracy")
    with pytest.raises(ValueError, match="n_trials"):
        sgdlab.optuna.optimize(study, suggest, "mlp", data, n_trials=0)
    with pytest.raises(TypeError, match="expected a dict"):
        sgdlab.optuna.optimize(study, lambda t: 0.1, "mlp", data, n_trials=1, device="cpu")
    assert all(t.state == optuna.trial.TrialState.FAIL for t in study.get_trials())


def test_a_refused_trial_fails_alone(npz):
    study = optuna.create_study(direction="maximize")
    momenta = iter([0.9, 1.0, 0.5])  # momentum 1 is refused by training
    sgdlab.optuna.optimize(study, lambda t: {"lr": 0.05, "momentum": next(momenta)}, "mlp",
                           sgdlab.load_data(npz), n_trials=3, lanes=3, epochs=1, device="cpu")
    states = [t.state for t in study.get_trials()]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
                      optuna.trial.TrialState.COMPLETE]
    assert "momentum: expected a value in [0, 1)" in study.trials[1].user_attrs[
        "sgdlab_fail_reason"]

