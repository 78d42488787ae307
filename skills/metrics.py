"""Classification and signal metrics of down / flat / up probabilities.

- classification: `classification_metrics` (accuracy, balanced accuracy, macro-F1, log loss, per class,
  confusion matrix);
- signal: `signal_score` (P(up) − P(down)); `daily_ic`, the per-date cross-sectional IC / rank IC of that
  score against the forward return across the date's tickers and their ICIR, as Qlib reports them for a
  universe; `signal_metrics`, the same grouped by calendar month (for one ticker or a few);
- `split_metrics`: both on one labelled `Split`, the daily figures when the split has at least
  `DAILY_IC_MIN_TICKERS` tickers on its typical (median) date, the monthly ones otherwise.

This module sits just above `skills.data` and imports nothing else of the package, so the models, the
trainer and the evaluation layer can all use it. All results are plain Python types, ready for `json.dump`.
Probabilities are `(n, 3)` in `CLASS_NAMES` order.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 2, 2])
    >>> proba = np.eye(3)[[0, 1, 1, 2]]
    >>> classification_metrics(y, proba)["accuracy"]
    0.75
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from skills.data.labels import CLASS_NAMES

__all__ = ["DAILY_IC_MIN_TICKERS", "check_labels", "classification_metrics", "signal_score", "signal_metrics",
           "daily_ic", "ic_basis", "split_metrics", "mean_std", "t_statistic"]

N_CLASSES = len(CLASS_NAMES)
_LABELS = list(range(N_CLASSES))
#: `split_metrics` scores the IC date by date (Qlib's daily cross-sectional IC) when the median date of the split
#: has at least this many tickers; with fewer, a date's correlation is too noisy and the months are used.
DAILY_IC_MIN_TICKERS = 10
_SUM_TOLERANCE = 1e-3  # float32 softmax rows sum to 1 within ~1e-6; anything past this is not a distribution


def check_labels(y, name="y_true"):
    """`y` as a 1-D int64 array of class ids in {0, 1, 2}.

    Raises:
        ValueError: naming `name`: not 1-D, empty, not whole numbers, or an id outside {0, 1, 2}.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class ids, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class ids in {_LABELS}, got non-integer floats")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class ids in {_LABELS}, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = sorted(set(np.unique(arr).tolist()) - set(_LABELS))
    if bad:
        raise ValueError(f"{name} must hold class ids in {_LABELS} ({', '.join(CLASS_NAMES)}), got {bad}")
    return arr


def _check_proba(proba, n, name="proba"):
    """Return `proba` as a float64 `(n, 3)` array whose rows sum to 1; raise ValueError otherwise."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.shape != (n, N_CLASSES):
        raise ValueError(f"{name} must have shape ({n}, {N_CLASSES}) to match the labels, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    sums = arr.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name} rows must sum to 1, row {worst} sums to {sums[worst]:.6g}")
    return arr / sums[:, None]


def classification_metrics(y_true, proba):
    """Score class probabilities against true class ids.

    The predicted class is the argmax of each row. Macro-F1 and balanced accuracy follow scikit-learn: they
    average over the classes that occur (in `y_true`, or in the predictions for F1), so a class absent from a
    short test split does not count as a zero. Log loss always uses all three classes.

    Args:
        y_true (array-like of int, shape (n,)): true class ids in {0, 1, 2} (`CLASS_NAMES` order).
        proba (array-like of float, shape (n, 3)): class probabilities, rows summing to 1.

    Returns:
        dict: `n`, `accuracy`, `balanced_accuracy`, `macro_f1`, `log_loss` (floats), `confusion_matrix` (3x3
        list of ints, rows = true class, columns = predicted class, both in `CLASS_NAMES` order),
        `class_counts` (true-class support, `{name: int}`), `predicted_counts` (`{name: int}`) and `per_class`
        (`{name: {"precision", "recall", "f1", "support"}}`, 0.0 where undefined). All plain Python types.

    Raises:
        ValueError: `y_true` is not 1-D ids in {0, 1, 2}, or `proba` is not `(n, 3)` rows that sum to 1.
    """
    y = check_labels(y_true)
    p = _check_proba(proba, len(y))
    y_pred = p.argmax(axis=1)
    cm = confusion_matrix(y, y_pred, labels=_LABELS)
    with warnings.catch_warnings():
        # A class missing from a short split is expected here, and documented above.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y, y_pred)
        macro_f1 = f1_score(y, y_pred, average="macro", zero_division=0)
        precision, recall, f1, support = precision_recall_fscore_support(
            y, y_pred, labels=_LABELS, zero_division=0
        )
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, y_pred)),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(macro_f1),
        "log_loss": float(log_loss(y, p, labels=_LABELS)),
        "confusion_matrix": cm.astype(int).tolist(),
        "class_counts": {name: int(c) for name, c in zip(CLASS_NAMES, cm.sum(axis=1))},
        "predicted_counts": {name: int(c) for name, c in zip(CLASS_NAMES, cm.sum(axis=0))},
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(CLASS_NAMES)
        },
    }


def signal_score(proba):
    """The signed conviction P(up) − P(down) of each row, in [-1, 1].

    Args:
        proba (array-like, shape (n, 3)): class probabilities in `CLASS_NAMES` order.

    Returns:
        np.ndarray: `(n,)` float64.

    Raises:
        ValueError: `proba` is not `(n, 3)`.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != N_CLASSES:
        raise ValueError(f"proba must have shape (n, {N_CLASSES}), got {p.shape}")
    return p[:, CLASS_NAMES.index("up")] - p[:, CLASS_NAMES.index("down")]


def mean_std(values):
    """Mean and standard deviation (ddof=1) of the values that are not None; None where too few."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    return (float(v.mean()) if v.size else None), (float(v.std(ddof=1)) if v.size >= 2 else None)


def t_statistic(values):
    """The t-statistic of the mean of the values that are not None: mean / std (ddof=1) * sqrt(n).

    Returns:
        float or None: None with fewer than two values or no spread.

    Example:
        >>> round(t_statistic([0.01, 0.03, None]), 6)
        2.0
    """
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size < 2:
        return None
    std = float(v.std(ddof=1))
    return float(v.mean() / std * np.sqrt(v.size)) if std > 0 else None


def _mean_and_ir(values):
    """Mean and mean / std of the values that are not None (the IR is None without two values and a spread)."""
    mean, std = mean_std(values)
    return mean, (mean / std if std else None)


def signal_metrics(proba, forward_returns, dates):
    """Information coefficients of P(up) − P(down) against the forward return, month by month.

    Windows are grouped by the calendar month of their last bar, all tickers of that month together. In each
    month the IC is the Pearson and the rank IC the Spearman correlation between the score (`signal_score`)
    and the return that made the label. The headline `ic` and `rank_ic` are the means over months, and `icir`
    and `rank_icir` are mean / standard deviation (ddof=1) over months, as Qlib reports them. A month whose
    score or return does not vary (the majority baseline's score never moves) has no IC and is left out; a
    figure with no month to average (or, for an ICIR, fewer than two months or no spread) is None.

    Args:
        proba (array-like, shape (n, 3)): class probabilities, rows summing to 1.
        forward_returns (array-like of float, shape (n,)): each window's forward return, e.g.
            `Split.forward_returns`.
        dates (array-like of datetime, shape (n,)): the date of each window's last bar, e.g. `Split.dates`.

    Returns:
        dict: `ic`, `rank_ic`, `icir`, `rank_icir` (float or None), `n_months` (months with an IC) and
        `monthly` (`{"YYYY-MM": {"ic", "rank_ic", "n"}}`, every month with rows). Plain Python types.

    Raises:
        ValueError: lengths differ, a return is not finite, or `proba` is not `(n, 3)` rows that sum to 1.

    Example:
        >>> r = np.array([0.01, -0.02, 0.03, -0.01])
        >>> proba = np.c_[(1 - r * 10) / 3, np.full(4, 1 / 3), (1 + r * 10) / 3]
        >>> signal_metrics(proba, r, ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"])["ic"]
        1.0
    """
    score, r, when = _checked_signal(proba, forward_returns, dates)
    frame = pd.DataFrame({"score": score, "ret": r})
    monthly = {}
    for month, rows in frame.groupby(when.to_period("M").astype(str).to_numpy(), sort=True):
        varies = len(rows) > 1 and rows["score"].nunique() > 1 and rows["ret"].nunique() > 1
        monthly[str(month)] = {
            "ic": float(rows["score"].corr(rows["ret"])) if varies else None,
            "rank_ic": float(rows["score"].corr(rows["ret"], method="spearman")) if varies else None,
            "n": int(len(rows)),
        }
    ic, icir = _mean_and_ir(m["ic"] for m in monthly.values())
    rank_ic, rank_icir = _mean_and_ir(m["rank_ic"] for m in monthly.values())
    return {
        "ic": ic,
        "rank_ic": rank_ic,
        "icir": icir,
        "rank_icir": rank_icir,
        "n_months": sum(m["ic"] is not None for m in monthly.values()),
        "monthly": monthly,
    }


def _checked_signal(proba, forward_returns, dates):
    """Score, returns and dates of a signal, checked: `(score, r, DatetimeIndex)`."""
    r = np.asarray(forward_returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"forward_returns must be a non-empty 1-D array, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("forward_returns must be finite")
    score = signal_score(_check_proba(proba, len(r)))
    when = pd.DatetimeIndex(dates)
    if len(when) != len(r):
        raise ValueError(f"dates has {len(when)} entries for {len(r)} forward returns")
    return score, r, when


def _per_group_corr(a, b, groups):
    """Pearson correlation of `a` and `b` within each group (NaN where either does not vary)."""
    frame = pd.DataFrame({"a": a, "b": b, "g": groups})
    grouped = frame.groupby("g", sort=True)
    da = frame["a"] - grouped["a"].transform("mean")
    db = frame["b"] - grouped["b"].transform("mean")
    sums = pd.DataFrame({"ab": da * db, "aa": da * da, "bb": db * db, "g": groups}).groupby("g", sort=True).sum()
    denominator = np.sqrt(sums["aa"] * sums["bb"])
    # a constant column leaves ~1e-30 of rounding, not a spread: treat it as none
    flat = (sums["aa"] <= 1e-24 * np.maximum(1.0, sums["aa"].max())) | (sums["bb"] <= 1e-24)
    return (sums["ab"] / denominator).where(~flat & (denominator > 0))


def daily_ic(proba, forward_returns, dates, min_tickers=2):
    """Daily cross-sectional information coefficients of P(up) − P(down), as Qlib scores a universe.

    On each date, the IC is the Pearson and the rank IC the Spearman correlation, across that date's tickers,
    between the score (`signal_score`) and the forward return that made the label. The headline figures are
    the mean over dates, their standard deviation (ddof=1) over dates, ICIR = mean / std, and the t-statistic of
    the mean, t = mean / std * sqrt(number of dates with a figure): how many standard errors the mean lies from 0,
    treating the dates as independent (a t of 2 is the usual bar for a mean that is not noise). A date with
    fewer than `min_tickers` rows, or whose score or return does not vary across them (the majority
    baseline's score never moves), has no IC and is left out (it stays in `daily` with None).

    Args:
        proba (array-like, shape (n, 3)): class probabilities, rows summing to 1.
        forward_returns (array-like of float, shape (n,)): each window's forward return.
        dates (array-like of datetime, shape (n,)): the date of each window's last bar (one row per ticker
            and date).
        min_tickers (int, default 2): fewest rows a date needs for an IC.

    Returns:
        dict: `ic`, `rank_ic`, `ic_std`, `rank_ic_std`, `icir`, `rank_icir`, `ic_t`, `rank_ic_t` (float or None:
        a mean needs one date; a std, an ICIR and a t two dates and a spread), `n_dates` (dates with an IC) and
        `daily`
        (`{"YYYY-MM-DD": {"ic", "rank_ic", "n"}}`, every date with rows). Plain Python types.

    Raises:
        ValueError: lengths differ, a return is not finite, `proba` is not `(n, 3)` rows that sum to 1, or
            `min_tickers` < 2.

    Example:
        >>> r = np.array([0.01, -0.02, 0.03, 0.02, -0.01, 0.00])
        >>> proba = np.c_[(1 - r * 10) / 3, np.full(6, 1 / 3), (1 + r * 10) / 3]
        >>> daily_ic(proba, r, ["2020-01-02"] * 3 + ["2020-01-03"] * 3)["rank_ic"]
        1.0
    """
    if int(min_tickers) != min_tickers or min_tickers < 2:
        raise ValueError(f"min_tickers must be an integer >= 2, got {min_tickers!r}")
    score, r, when = _checked_signal(proba, forward_returns, dates)
    day = when.normalize()
    counts = pd.Series(1, index=day).groupby(level=0, sort=True).size()
    ic = _per_group_corr(score, r, day)
    ranks = pd.DataFrame({"s": score, "r": r}).groupby(day).rank(method="average")
    rank_ic = _per_group_corr(ranks["s"].to_numpy(), ranks["r"].to_numpy(), day)
    enough = counts >= min_tickers
    ic, rank_ic = ic.where(enough), rank_ic.where(enough)
    daily = {f"{d:%Y-%m-%d}": {"ic": None if pd.isna(ic[d]) else float(ic[d]),
                               "rank_ic": None if pd.isna(rank_ic[d]) else float(rank_ic[d]),
                               "n": int(counts[d])} for d in counts.index}
    ic_mean, ic_std = mean_std(d["ic"] for d in daily.values())
    rank_mean, rank_std = mean_std(d["rank_ic"] for d in daily.values())
    return {
        "ic": ic_mean,
        "rank_ic": rank_mean,
        "ic_std": ic_std,
        "rank_ic_std": rank_std,
        "icir": ic_mean / ic_std if ic_std else None,
        "rank_icir": rank_mean / rank_std if rank_std else None,
        "ic_t": t_statistic(d["ic"] for d in daily.values()),
        "rank_ic_t": t_statistic(d["rank_ic"] for d in daily.values()),
        "n_dates": sum(d["ic"] is not None for d in daily.values()),
        "daily": daily,
    }


def ic_basis(dates):
    """`"daily"` when the median date of `dates` holds at least `DAILY_IC_MIN_TICKERS` rows, else `"monthly"`.

    This is how `split_metrics` decides between `daily_ic` (a universe: many tickers on each date) and
    `signal_metrics` (one ticker, or a handful, whose dates hold too few rows for a daily correlation).
    """
    day = pd.DatetimeIndex(dates).normalize()
    if len(day) == 0:
        return "monthly"
    return "daily" if pd.Series(1, index=day).groupby(level=0).size().median() >= DAILY_IC_MIN_TICKERS else "monthly"


def split_metrics(split, proba):
    """Classification and signal metrics of probabilities on one `Split`.

    The signal figures are `daily_ic` when `ic_basis(split.dates)` is `"daily"` (at least
    `DAILY_IC_MIN_TICKERS` tickers on the median date: a universe), `signal_metrics` (by month) otherwise;
    either way they are under the same keys `ic`, `rank_ic`, `icir`, `rank_icir`, with `ic_basis` saying which.

    Args:
        split (skills.data.Split): labelled windows with `y`, `forward_returns` and `dates`.
        proba (array-like, shape (len(split), 3)): probabilities for its windows, in order.

    Returns:
        dict: `classification_metrics(split.y, proba)`, the signal figures, and `ic_basis`.
    """
    basis = ic_basis(split.dates)
    signal = (daily_ic if basis == "daily" else signal_metrics)(proba, split.forward_returns, split.dates)
    return {**classification_metrics(split.y, proba), **signal, "ic_basis": basis}
