"""Optuna studies whose trials train as sgdlab lane packs.

    import optuna, sgdlab, sgdlab.optuna

    def suggest(trial):
        return {"lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
                "momentum": trial.suggest_float("momentum", 0.5, 0.99),
                "batch": trial.suggest_categorical("batch", [32, 64])}

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    sgdlab.optuna.optimize(study, suggest, "mlp", sgdlab.load_data(), n_trials=32, lanes=8,
                           epochs=10)

Optuna's samplers, pruners, storages and plots work unchanged: this module only asks
trials, trains them, reports and tells, through Optuna's ask-and-tell interface.
"""
import math

import optuna

from . import Pack, _sgdlab

__all__ = ["optimize"]

_PACK_KEYS = ("batch", "optimizer")


def _lane_settings(trial, params):
    """A trial's lane settings: its suggestions less the pack's, with a seed of its own
    (the trial's number + 1) unless it suggests one."""
    lane = {k: v for k, v in params.items() if k not in _PACK_KEYS}
    lane.setdefault("seed", trial.number + 1)
    return lane


def _tell(study, trial, open_, value=None, state=None):
    """Tells a trial once: it leaves `open_` first, so that a tell that raises after
    Optuna stored the state (a sampler's after_trial may) is not told again."""
    open_.discard(trial.number)
    if state is None:
        study.tell(trial, value)
    else:
        study.tell(trial, state=state)


def _fail(study, trial, open_, reason):
    trial.set_user_attr("sgdlab_fail_reason", reason)
    _tell(study, trial, open_, state=optuna.trial.TrialState.FAIL)


def _refusal(trial, params, epochs, batch, optimizer):
    """Why sgdlab refuses a trial's settings, or None: checked one trial at a time, so that
    one trial's bad suggestion fails that trial only."""
    try:
        _sgdlab._check_lane(_lane_settings(trial, params), epochs,
                            int(params.get("batch", batch)), str(params.get("optimizer", optimizer)))
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def _groups(asked, batch, optimizer):
    """The asked trials grouped into packs by batch size and optimizer, in asking order."""
    packs = {}
    for trial, params in asked:
        key = (int(params.get("batch", batch)), str(params.get("optimizer", optimizer)))
        packs.setdefault(key, []).append((trial, params))
    return packs


def _train_pack(study, model, data, members, batch, optimizer, epochs, objective, device, open_):
    """Trains one pack; reports every epoch, prunes, fails diverged lanes and completes the
    rest. `open_` holds the trials not told yet."""
    pack = Pack(model, data, batch=batch, epochs=epochs, device=device, optimizer=optimizer,
                lanes=[_lane_settings(t, p) for t, p in members])
    alive = list(range(len(members)))
    last = {}
    for ep in pack:
        values = getattr(ep, objective)
        for i in list(alive):
            trial = members[i][0]
            if ep.diverged[i]:
                alive.remove(i)
                _fail(study, trial, open_, f"the loss turned NaN or infinite in epoch {ep.epoch}")
                continue
            value = float(values[i])
            last[i] = value
            trial.report(value, ep.epoch)
            if trial.should_prune():
                pack.freeze(i)
                alive.remove(i)
                _tell(study, trial, open_, state=optuna.trial.TrialState.PRUNED)
        if not alive:
            break
    for i in alive:
        trial = members[i][0]
        if math.isfinite(last[i]):
            _tell(study, trial, open_, value=last[i])
        else:
            _fail(study, trial, open_, f"{objective} is {last[i]}")


def optimize(study, suggest, model, data, n_trials, lanes=8, epochs=20, objective="val_acc",
             batch=32, optimizer="sgd", device="auto"):
    """Runs n_trials trials of `study`, up to `lanes` at a time as sgdlab packs.

    suggest(trial) -> dict: a trial's lane settings (any key sgdlab.Pack's lanes take),
    from the usual trial.suggest_* calls; "batch" and "optimizer" may be suggested too
    (trials are grouped into one pack per batch size and optimizer; default `batch` and
    `optimizer`). Without a "seed", a trial trains with seed trial.number + 1.

    Every epoch, each lane's `objective` (an Epoch field: "val_acc", "val_loss",
    "train_loss", "train_acc", ...) is reported with trial.report(value, epoch); a lane
    whose trial.should_prune() is true is frozen and told PRUNED. Lanes that finish are
    told COMPLETE with their last epoch's value; a lane that diverges, and a trial whose
    settings sgdlab refuses, is told FAIL (the reason in the user attribute
    "sgdlab_fail_reason"), and the others go on. If anything raises, every trial this call
    asked and has not told is told FAIL before the exception goes on, so none is left
    RUNNING. Several processes may run this on one study (any Optuna storage).
    """
    if n_trials < 1 or lanes < 1 or epochs < 1:
        raise ValueError("n_trials, lanes and epochs must be >= 1")
    if objective not in ("val_acc", "val_loss", "train_acc", "train_loss", "grad_mean_abs",
                         "grad_l2"):
        raise ValueError(f"objective: expected an Epoch metric such as val_acc or val_loss, "
                         f"got {objective!r}")
    asked_total = 0
    open_ = set()
    by_number = {}
    try:
        while asked_total < n_trials:
            asked = []
            for _ in range(min(lanes, n_trials - asked_total)):
                trial = study.ask()
                open_.add(trial.number)
                by_number[trial.number] = trial
                asked_total += 1
                params = suggest(trial)
                if not isinstance(params, dict):
                    raise TypeError(f"suggest: expected a dict of settings, got "
                                    f"{type(params).__name__}")
                why = _refusal(trial, params, epochs, batch, optimizer)
                if why is None:
                    asked.append((trial, params))
                else:
                    _fail(study, trial, open_, why)
            for (b, opt), members in _groups(asked, batch, optimizer).items():
                _train_pack(study, model, data, members, b, opt, epochs, objective, device, open_)
    except BaseException:
        for number in sorted(open_):
            trial = by_number[number]
            try:
                trial.set_user_attr("sgdlab_fail_reason", "stopped by an exception in optimize")
                study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            except Exception:  # noqa: BLE001 - the first exception is the one to raise
                pass
        raise
