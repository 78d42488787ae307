"""A search on local Ray (2 CPUs): a 3-trial, 1-epoch search finishes and writes a configuration that
``train --config`` trains again to the same network and validation figures; a trial that raises is reported
failed while the others finish. The session's one local Ray serves them."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from skills.cli import main
from skills.data import load_ohlcv, prepare_dataset
from skills.metrics import split_metrics
from skills.models import load_model
from skills.tuning import tune

from .conftest import TINY_SPACE

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray at a time


def _val_log_loss(model, bars, config):
    data = prepare_dataset(bars, sequence_length=config["sequence_length"], val_fraction=config["val_fraction"])
    return split_metrics(data.val, model.predict_proba(data.val))["log_loss"]


def test_a_search_writes_a_config_that_train_reproduces(ray_session, bars_csv, tmp_path, capsys):
    out, space = tmp_path / "out", tmp_path / "space.json"
    space.write_text(json.dumps({**TINY_SPACE, "lstm_units": {"choice": [4, 64]}}))  # 64: the default
    assert main(["tune", "--model", "lstm", "--data-path", str(bars_csv), "--trials", "3", "--n-splits", "2",
                 "--epochs", "1", "--patience", "1", "--space", str(space), "--out", str(out), "--quiet"]) == 0

    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3 and len(pd.read_json(out / "trials.json")) == 3
    assert set(trials["status"]) <= {"finished", "stopped"} and (trials["status"] == "finished").any()
    assert {"trial_id", "objective", "node_id", "error", "lstm_units", "learning_rate"} <= set(trials.columns)
    first = trials.set_index("trial").loc[1]  # the defaults train would fit come first
    assert (first["lstm_units"], first["learning_rate"], first["dropout_rate"]) == (64, 1e-3, 0.2)
    assert first["status"] == "finished"  # ASHA never stops the defaults: their objective covers every fold
    assert len(json.loads(first["fold_values"])) == 2
    line = f"the defaults (trial 1, finished): objective {first['objective']:.4f}"
    assert line in capsys.readouterr().out
    finished = trials[trials["status"] == "finished"]
    for _, row in finished.iterrows():  # the objective is the mean of the folds' validation log losses
        folds = json.loads(row["fold_values"])
        assert len(folds) == 2 and math.isclose(row["objective"], np.mean(folds), rel_tol=1e-6)
    best = finished.loc[finished["objective"].idxmin()]
    config = json.loads((out / "best_config.json").read_text())
    assert config["model"] == "lstm" and config["epochs"] == 1 and config["sequence_length"] == 10
    assert config["lstm_units"] == best["lstm_units"] and math.isclose(config["learning_rate"],
                                                                        best["learning_rate"])

    again = tmp_path / "again.keras"
    assert main(["train", "--config", str(out / "best_config.json"), "--data-path", str(bars_csv),
                 "--model-path", str(again), "--quiet"]) == 0
    tuned, trained = load_model(out / "best_model.keras"), load_model(again)
    assert tuned.get_params() == trained.get_params()
    hyper = ("batch_size", "learning_rate", "optimizer", "epochs", "patience", "seed", "lr_schedule", "clipnorm")
    assert {k: tuned.metadata_["training"][k] for k in hyper} == {k: trained.metadata_["training"][k] for k in hyper}
    bars = load_ohlcv(bars_csv)
    refit = json.loads((out / "best.json").read_text())["refit_validation"]["log_loss"]
    assert _val_log_loss(tuned, bars, config) == pytest.approx(refit, abs=1e-6)
    assert _val_log_loss(trained, bars, config) == pytest.approx(refit, abs=2e-3)


def test_a_trial_that_raises_is_failed_and_the_others_finish(ray_session, bars_csv, tmp_path):
    space = {**TINY_SPACE, "num_layers": {"choice": [1, 0]}}  # 0 layers: the model refuses it
    points = [{"lstm_units": units, "num_layers": layers, "learning_rate": 1e-3, "dropout_rate": 0.1}
              for units, layers in ((4, 1), (8, 0), (8, 1))]
    result = tune("lstm", load_ohlcv(bars_csv), trials=3, folds=2, epochs=1, out=tmp_path / "out", space=space,
                  fit={"patience": 1}, points_to_evaluate=points, refit=False, quiet=True)
    trials = result.trials.set_index("trial")
    assert trials.loc[2, "status"] == "failed" and "num_layers" in trials.loc[2, "error"]
    assert trials.loc[2, "objective"] is None or np.isnan(trials.loc[2, "objective"])
    assert (trials.loc[[1, 3], "status"] != "failed").all() and (trials.loc[[1, 3], "error"] == "").all()
    assert (trials["status"] == "finished").any() and result.best_config["num_layers"] == 1
    assert (tmp_path / "out" / "best_config.json").exists() and result.best_model_path is None
