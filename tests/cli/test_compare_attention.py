"""`python -m skills compare` and `python -m skills attention`, driven through main([...]) on small real slices."""

import json

import numpy as np
import pandas as pd
import pytest

from skills.cli import main

TINY = ["--sequence-length", "10", "--lstm-units", "8", "--attention-units", "4", "--d-model", "8",
        "--num-heads", "2", "--num-layers", "1", "--epochs", "1", "--batch-size", "64", "--quiet"]
COLUMNS = ["model", "accuracy", "balanced", "acc", "macro-F1", "log", "loss", "IC", "ICIR", "Sharpe", "return", "%",
           "B&H", "return", "%", "trades", "Sharpe@0.65", "trades@0.65", "val", "macro-F1"]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, aapl):
    """A tiny Attention-LSTM and a tiny plain LSTM (no attention layer), fitted one epoch and saved."""
    from skills.data import prepare_dataset
    from skills.models import AttentionLSTMModel, LSTMModel

    folder = tmp_path_factory.mktemp("models")
    data = prepare_dataset(aapl.iloc[-600:], sequence_length=10)
    files = {}
    for name, model in (("attention", AttentionLSTMModel(sequence_length=10, lstm_units=8, attention_units=4)),
                        ("lstm", LSTMModel(sequence_length=10, lstm_units=8))):
        files[name] = model.fit(data, epochs=1, verbose=0).save(folder / f"{name}.h5")
    return files


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.integration  # two folds of a network: tests/pipeline/test_compare.py covers the fast path
def test_compare_prints_one_row_per_model_and_baseline_and_writes_json_and_plot(tmp_path, aapl_csv, capsys):
    out_json, out_png = tmp_path / "compare.json", tmp_path / "compare.png"
    code = main(["compare", "--data-path", str(aapl_csv), "--models", "lstm", "--n-splits", "2", *TINY,
                 "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["model", "accuracy"])
    assert lines[header].split() == COLUMNS
    rows = [line.split() for line in lines[header + 1:header + 4]]
    assert sorted(row[0] for row in rows) == ["lightgbm", "lstm", "majority"]

    report = json.loads(out_json.read_text())
    summary = report["summary"]
    assert list(summary) == [row[0] for row in rows]  # the same order, best macro-F1 first
    for row in rows:
        f1 = summary[row[0]]["macro_f1"]
        assert row[3] == f"{f1['mean']:.3f}±{f1['std']:.3f}"
    assert [fold["fold"] for fold in report["folds"]] == [1, 2]
    first, second = report["folds"]
    assert first["dates"]["test"][1] < second["dates"]["test"][0]  # the second block comes after the first
    lstm = first["results"]["lstm"]
    assert lstm["epochs_run"] == 1 and lstm["n"] == first["windows"]["test"]
    assert set(lstm["backtest"]) == {"AAPL"} and lstm["buy_and_hold_return"] is not None
    assert first["results"]["majority"]["ic"] is None
    assert report["flags"]["n_splits"] == 2
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out_json}, {out_png}" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--models", "lstm,nosuchnet"], "--models must list distinct names"),
        (["--models", "lstm,lstm"], "--models must list distinct names"),
        (["--models", "lstm", "--baselines", "majority,oracle"], "--baselines must list distinct names"),
        (["--models", "lstm", "--json", "{tmp}/out.txt"], "--json must end in .json"),
        (["--models", "lstm", "--plot", "{tmp}/plot"], "--plot must end in a suffix"),
        (["--models", "transformer", "--d-model", "6", "--num-heads", "4"], "must be a multiple of `num_heads`"),
        (["--models", "", "--baselines", ""], "--models and --baselines are both empty"),
    ],
)
def test_compare_user_errors_print_one_line_and_write_nothing(tmp_path, aapl_csv, capsys, flags, message):
    flags = [flag.replace("{tmp}", str(tmp_path)) for flag in flags]
    code = main(["compare", "--data-path", str(aapl_csv), *TINY, *flags])
    assert code == 2
    line = _error_line(capsys)
    assert line.startswith("skills compare: error:") and message in line
    assert list(tmp_path.iterdir()) == []


def test_compare_missing_or_too_short_data(tmp_path, aapl, capsys):
    assert main(["compare", "--data-path", str(tmp_path / "nope.csv"), *TINY]) == 2
    assert "no such file or folder" in _error_line(capsys)
    short = tmp_path / "SHORT.csv"
    aapl.iloc[-60:][["open", "high", "low", "close", "volume"]].to_csv(short)
    assert main(["compare", "--data-path", str(short), "--models", "lstm", *TINY,
                 "--json", str(tmp_path / "c.json")]) == 2
    assert "SHORT.csv: 60 bars give no labelled window (need at least 92" in _error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["SHORT.csv"]


def test_attention_draws_the_chosen_windows(tmp_path, aapl_csv, model_files, capsys):
    out = tmp_path / "attention.png"
    code = main(["attention", "--model-path", str(model_files["attention"]), "--data-path", str(aapl_csv),
                 "--start", "2017-06-01", "--end", "2017-09-29", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    trading_days = pd.read_csv(aapl_csv, index_col=0, parse_dates=True).loc["2017-06-01":"2017-09-29"]
    assert printed.startswith(f"{len(trading_days)} windows of AAPL, 2017-06-01 .. 2017-09-29; predicted down ")
    # the printed figures are those of the model on exactly the windows ending in the range
    from skills.data import feature_windows, load_ohlcv
    from skills.models import load_model

    model = load_model(model_files["attention"])
    windows, dates = feature_windows(load_ohlcv(aapl_csv), model.feature_names_, model.sequence_length)
    chosen = windows.subset(np.flatnonzero((dates >= "2017-06-01") & (dates <= "2017-09-29")))
    counts = np.bincount(model.predict(chosen), minlength=3)
    mean = model.get_attention_weights(chosen).mean(axis=0)
    assert f"predicted down {counts[0]}, flat {counts[1]}, up {counts[2]}; " in printed
    assert f"most attention at lag {np.argmax(mean) - 9} (mean weight {mean.max():.3f}, uniform 0.100)" in printed
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_attention_default_is_the_last_windows(tmp_path, aapl_csv, model_files, capsys):
    out = tmp_path / "a.png"
    assert main(["attention", "--model-path", str(model_files["attention"]), "--data-path", str(aapl_csv),
                 "--last", "40", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("40 windows of AAPL, ") and out.stat().st_size > 0


@pytest.mark.parametrize(
    "model, flags, message",
    [
        ("lstm", [], "no temporal attention layer"),
        ("attention", ["--start", "2017-09-01", "--end", "2017-06-01"], "is after --end"),
        ("attention", ["--start", "2019-01-01"], "no window ends between 2019-01-01"),
        ("attention", ["--out", "{tmp}/attention"], "--out must end in a suffix"),
        ("missing", [], "no such file"),
    ],
)
def test_attention_user_errors_print_one_line_and_write_nothing(tmp_path, aapl_csv, model_files, capsys, model,
                                                                flags, message):
    path = model_files.get(model, tmp_path / "missing.h5")
    flags = [flag.replace("{tmp}", str(tmp_path)) for flag in flags]
    out = ["--out", str(tmp_path / "attention.png")] if "--out" not in flags else []
    code = main(["attention", "--model-path", str(path), "--data-path", str(aapl_csv), *flags, *out])
    assert code == 2
    line = _error_line(capsys)
    assert line.startswith("skills attention: error:") and message in line
    assert list(tmp_path.iterdir()) == []


def test_attention_needs_one_csv(tmp_path, data_dir, model_files, capsys):
    assert main(["attention", "--model-path", str(model_files["attention"]), "--data-path", str(data_dir),
                 "--out", str(tmp_path / "a.png")]) == 2
    assert "give one ticker's CSV file" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_compare_of_the_baselines_alone(aapl_csv, capsys):
    """``--models ""``: no network, the baselines fold by fold (a cheap reference run)."""
    code = main(["compare", "--data-path", str(aapl_csv), "--models", "", "--baselines", "majority",
                 "--n-splits", "2", "--sequence-length", "10", "--quiet"])
    assert code == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("majority ")]
    assert rows == ["majority"]
