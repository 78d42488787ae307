"""The trials of a search as a table (status, hyperparameters, objective, node, error), the files it is kept in
(``trials.csv``, ``trials.json``: load them with ``pandas.read_csv`` / ``pandas.read_json``), and the best
configuration in the flag names of ``train --config`` / ``compare --config``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from skills._atomic import atomic_path
from skills.evaluation.tables import text_table

__all__ = ["STATUSES", "trial_rows", "trial_frame", "write_trials", "best_row", "flag_config", "format_trials"]

#: A trial's status in the table: ran every fold, stopped early by ASHA, raised, or not done yet.
STATUSES = ("finished", "stopped", "failed", "running", "pending")
_FIXED_COLUMNS = ("trial", "trial_id", "status", "objective", "fold_values", "fold", "epoch", "node_id",
                  "node_ip", "seconds", "error")


def _error_line(trial) -> str:
    """The last line of a failed trial's traceback (``ValueError: ...``), or ''."""
    try:
        error = trial.get_error()
    except Exception:  # no error file (yet)
        error = None
    text = str(error or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _status(trial, status) -> str:
    result = trial.last_result or {}
    if status == "ERROR":
        return "failed"
    if status == "TERMINATED":
        return "finished" if result.get("complete") else "stopped"
    return "running" if status == "RUNNING" else "pending"


def trial_rows(trials, keys, ended=None) -> list[dict]:
    """One plain dict per Ray Tune trial (in the order they were created), the hyperparameters ``keys`` as columns.

    ``ended`` maps the id of a trial that has just ended to its final Ray status (``"TERMINATED"`` or
    ``"ERROR"``), which Ray sets only after its callbacks ran.
    """
    rows, ended = [], dict(ended or {})
    for position, trial in enumerate(trials, start=1):
        number = _trial_number(trial, position)
        result = trial.last_result or {}
        status = ended.get(trial.trial_id, trial.status)
        objective = result.get("objective")
        row = {"trial": number, "trial_id": trial.trial_id, "status": _status(trial, status),
               "objective": None if objective is None or math.isnan(objective) else float(objective),
               "fold_values": result.get("fold_values"), "fold": result.get("fold"), "epoch": result.get("epoch"),
               "node_id": result.get("node_id", ""), "node_ip": result.get("node_ip", ""),
               "seconds": result.get("trial_seconds"), "error": _error_line(trial) if status == "ERROR" else ""}
        row.update({key: trial.config.get(key) for key in keys})
        rows.append(row)
    return sorted(rows, key=lambda row: row["trial"])


def _trial_number(trial, position: int) -> int:
    """Ray Tune's own number of the trial (the start of its ``experiment_tag``, as in its folder's name), which
    the order of a restored experiment's trial list does not keep; ``position`` when there is none."""
    head = str(getattr(trial, "experiment_tag", "") or "").split("_", 1)[0]
    return int(head) if head.isdigit() else position


def trial_frame(rows, keys=()) -> pd.DataFrame:
    """The rows as a DataFrame with the fixed columns first, then the hyperparameters."""
    columns = list(_FIXED_COLUMNS) + [key for key in keys if key not in _FIXED_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def write_trials(out, rows, keys) -> tuple[Path, Path]:
    """Write ``trials.csv`` and ``trials.json`` (records) into ``out``, each atomically."""
    out = Path(out)
    frame = trial_frame(rows, keys)
    csv, records = out / "trials.csv", out / "trials.json"
    with atomic_path(csv) as tmp:
        frame.assign(fold_values=frame["fold_values"].map(lambda v: "" if v is None else json.dumps(v))) \
            .to_csv(tmp, index=False)
    with atomic_path(records) as tmp:
        tmp.write_text(json.dumps(rows, indent=1, default=str))
    return csv, records


def best_row(rows, direction: str):
    """The finished trial with the lowest (``"min"``) or highest (``"max"``) objective, or None."""
    done = [row for row in rows if row["status"] == "finished" and row["objective"] is not None]
    if not done:
        return None
    return (min if direction == "min" else max)(done, key=lambda row: row["objective"])


def flag_config(model: str, params: dict, *, setup) -> dict:
    """The configuration of a trial in the flag names of ``train --config`` and ``compare --config``: the
    architecture, the data and training options every trial shared, and the trial's hyperparameters."""
    prepare, fit = dict(setup.prepare), dict(setup.fit)
    features = prepare.pop("features", None)
    fit.pop("verbose", None)
    if "class_weight" in fit:
        fit["class_weight"] = fit["class_weight"] or "none"
    config = {"model": model, "sequence_length": setup.sequence_length, "val_fraction": setup.val_fraction,
              **prepare, "features": "all" if features is None else
              (features if isinstance(features, str) else ",".join(features)),
              **fit, "epochs": setup.epochs, **params}
    if config.get("class_weight") is None and "class_weight" in config:
        config["class_weight"] = "none"
    return config


def format_trials(rows, keys, direction: str) -> str:
    """The trials as a text table, best objective first (failed and unfinished ones last)."""
    def order(row):
        value = row["objective"]
        rank = {"finished": 0, "stopped": 1}.get(row["status"], 2)
        return (rank, math.inf if value is None else (value if direction == "min" else -value))

    cells = []
    for row in sorted(rows, key=order):
        line = {"trial": str(row["trial"]), "status": row["status"],
                "objective": "n/a" if row["objective"] is None else f"{row['objective']:.4f}",
                "folds": "" if row["fold"] is None else f"{row['fold']}", "node": (row["node_id"] or "")[:8],
                "s": "" if row["seconds"] is None else f"{row['seconds']:.0f}"}
        for key in keys:
            value = row.get(key)
            line[key] = f"{value:.3g}" if isinstance(value, float) else str(value)
        line["error"] = (row["error"] or "")[:60]
        cells.append(line)
    frame = pd.DataFrame(cells).set_index("trial")
    return text_table(frame, "trial")
