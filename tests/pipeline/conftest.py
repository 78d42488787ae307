"""Fixtures of the pipeline tests: slices of the bundled real bars as files, a tiny network's options, one tiny
model trained through `skills.pipeline.train`, and a spy that keeps what a library call returned to the CLI."""

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: A network small enough to train in seconds: 10-bar windows, 4 units, one epoch.
TINY = dict(sequence_length=10, lstm_units=4, attention_units=4, epochs=1, batch_size=64, seed=7)
TINY_FLAGS = ["--sequence-length", "10", "--lstm-units", "4", "--attention-units", "4", "--epochs", "1",
              "--batch-size", "64", "--seed", "7", "--quiet"]


@pytest.fixture(scope="session")
def aapl_file(tmp_path_factory, aapl):
    """The last 400 real AAPL bars as a CSV."""
    path = tmp_path_factory.mktemp("pipeline_bars") / "AAPL.csv"
    aapl.iloc[-400:].to_csv(path)
    return path


@pytest.fixture(scope="session")
def universe_folder(tmp_path_factory):
    """A folder holding a long-format .csv.gz of 10 real tickers from 2016-06-01, AOS among them (its bad row of
    2014-05-19 lies before, so nothing is dropped)."""
    raw = pd.read_csv(ROOT / "data" / "universe" / "sp500_5yr.csv.gz", dtype=str)
    keep = sorted(raw["ticker"].unique())[:9] + ["AOS"]
    folder = tmp_path_factory.mktemp("pipeline_universe")
    raw[raw["ticker"].isin(keep) & (raw["date"] >= "2016-06-01")].to_csv(folder / "slice.csv.gz", index=False)
    return folder


@pytest.fixture(scope="session")
def trained(tmp_path_factory, aapl_file):
    """`skills.pipeline.train` of a tiny Attention-LSTM on the AAPL slice: (result, folder written into)."""
    from skills import pipeline

    folder = tmp_path_factory.mktemp("pipeline_trained")
    result = pipeline.train(aapl_file, model="attention_lstm", model_path=folder / "tiny.h5", **TINY)
    return result, folder


class Spy:
    """Wraps a `skills.pipeline` function: the call runs as it is, and its return value is kept."""

    def __init__(self, monkeypatch, name):
        from skills import pipeline

        self.returned = []
        function = getattr(pipeline, name)

        def spy(*args, **kwargs):
            self.returned.append(function(*args, **kwargs))
            return self.returned[-1]

        monkeypatch.setattr(pipeline, name, spy)


@pytest.fixture(scope="session")
def universe_run(universe_folder, tmp_path_factory):
    """``python -m skills train --model lstm`` of a tiny LSTM on the 10-ticker universe, through `main`: (what
    `skills.pipeline.train` returned to the command, the command's stdout, the model file)."""
    from skills.cli import main

    path = tmp_path_factory.mktemp("pipeline_universe_model") / "u.h5"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        calls = Spy(patch, "train")
        code = main(["train", "--model", "lstm", "--data-path", str(universe_folder), "--model-path", str(path),
                     "--batch-size", "256", *TINY_FLAGS])
    assert code == 0
    [result] = calls.returned
    return result, out.getvalue(), path


@pytest.fixture
def spy(monkeypatch):
    """``spy("train")``: keep what each `skills.pipeline.train` call returns (to the CLI) in ``.returned``."""
    return lambda name: Spy(monkeypatch, name)
