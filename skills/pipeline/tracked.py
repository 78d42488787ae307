"""What `train`, `compare` and `backtest` log into an MLflow run (`skills.tracking`) when they are given one."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import keras

from skills import __version__
from skills.evaluation.tables import format_summary_table

__all__ = ["log_backtest", "log_compare", "log_train", "top_scalars"]

_NOT_PARAMS = ("debug", "command", "load_report", "track", "tracking_uri", "experiment", "config")


def top_scalars(figures: dict) -> dict:
    """The top-level numbers of one model's figures (accuracy, IC, ...), without the nested per-month and
    per-class tables."""
    return {key: value for key, value in figures.items() if not isinstance(value, (dict, list, str))
            and value is not None}


def _flags(settings: dict | None) -> dict:
    return {f"flag.{key}": value for key, value in (settings or {}).items() if key not in _NOT_PARAMS}


def _common_tags(tickers, data_path) -> dict:
    tickers = sorted(map(str, tickers))
    return {"data_path": data_path, "tickers": ",".join(tickers), "n_tickers": len(tickers),
            "backend": keras.backend.backend(), "skills_version": __version__, "keras_version": keras.__version__}


def log_train(run, result) -> None:
    """A `TrainResult`: the resolved hyperparameters (network, training, labels, features) and the flags as params;
    the data, date ranges, backend and precision as tags; the test figures of the model (``test_<figure>``) and of
    each baseline (``baselines/<baseline>/test_<figure>``) and the timings as metrics; the model file, the report
    JSON and the plots as artifacts. The per-epoch figures come from the run's callback during ``fit``."""
    model, report = result.model, result.report
    training = {key: value for key, value in model.metadata_["training"].items()
                if key not in ("members", "precision_reason", "epochs_run")}
    data = report["data"]
    params = {**model.get_params(), **training, "model": result.name, "model_class": type(model).__name__,
              "label": data["label_rule"], "features": data["features"], "n_params": report.get("params"),
              **_flags(report.get("flags"))}
    run.log_params(params)
    ranges = {f"dates.{split}": f"{first} .. {last}" for split, (first, last) in data["date_ranges"].items()}
    flags = report.get("flags") or {}
    run.set_tags({**_common_tags(data["tickers"], data.get("path") or flags.get("data_path") or flags.get("data")),
                  **ranges, "model": result.name,
                  "precision": result.precision, "label_basis": data["label_rule"].get("basis")})
    for name, figures in result.results.items():
        prefix = "test_" if name == result.name else f"baselines/{name}/test_"
        run.log_metrics(top_scalars(figures), prefix=prefix)
    run.log_metrics(result.timings, prefix="time/")
    for path in result.files.values():
        run.log_artifact(path)


def log_compare(run, result) -> None:
    """A `CompareResult`: the flags as params of the parent run; each summary figure's mean and std over the folds
    as its metrics (``<name>/<figure>_mean``); the summary table and every fold's figures as artifacts; and a child
    run per model × fold with that fold's figures."""
    folds = result.report["folds"]
    run.log_params({"models": ",".join(result.models), "baselines": ",".join(result.baselines),
                    "n_splits": result.n_splits, "mode": result.mode, "label_basis": result.basis,
                    **({f"topk.{k}": v for k, v in result.topk.items()} if result.topk else {}),
                    **_flags(result.report.get("flags"))})
    run.set_tags({**_common_tags(result.tickers, (result.report.get("flags") or {}).get("data_path")),
                  "folds": ",".join(str(fold["fold"]) for fold in folds)})
    for name, figures in result.summary.items():
        for key, stats in figures.items():
            if isinstance(stats, dict):
                run.log_metrics({f"{key}_mean": stats.get("mean"), f"{key}_std": stats.get("std")}, prefix=f"{name}/")
    run.log_text(result.format(), "summary.txt")
    run.log_text(format_summary_table(result.summary), "summary_table.txt")
    run.log_text(json.dumps(result.report, indent=2, default=str), "compare.json")  # as the --json file
    for path in result.files:
        run.log_artifact(path)
    for fold in folds:
        for name, figures in fold["results"].items():
            kind = "model" if name in result.models else "baseline"
            with run.start_child(f"{name} fold {fold['fold']}",
                                 params={"model": name, "kind": kind, "fold": fold["fold"],
                                         **{f"dates.{split}": " .. ".join(map(str, span))
                                            for split, span in fold["dates"].items()}},
                                 tags={"model": name, "fold": fold["fold"], "kind": kind}) as child:
                child.log_metrics(top_scalars(figures), prefix="test_")


def log_backtest(run, result) -> None:
    """A `BacktestRun`: the strategy's options as params, its figures and the benchmark's as metrics, the
    figure of `BacktestRun.figure` (and the files written) as artifacts."""
    run.log_params({"model_path": result.model_path, "strategy": result.strategy,
                    "strategy_source": result.strategy_source, **result.options})
    run.set_tags({**_common_tags(result.tickers, None), "model_path": result.model_path})
    run.log_metrics(top_scalars(result.metrics))
    if result.strategy == "ml" and len(result.result.per_ticker) > 1:
        for ticker, figures in result.result.per_ticker.iterrows():
            run.log_metrics(top_scalars(figures.to_dict()), prefix=f"{ticker}/")
    run.log_text(result.format(), "backtest.txt")
    written = [Path(path) for path in result.files]
    if not any(path.suffix in (".png", ".pdf", ".svg") for path in written):
        from skills.plots import save_figure

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "backtest.png"
            save_figure(result.figure(), path)
            run.log_artifact(path)
    for path in written:
        run.log_artifact(path)

