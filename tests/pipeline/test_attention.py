"""`skills.pipeline.attention`: the windows chosen, their weights and predictions, the figure, errors, and the CLI."""

import numpy as np
import pytest

from skills import pipeline
from skills.cli import main
from skills.data import feature_windows, load_ohlcv
from skills.models import load_model


def test_attention_reads_the_windows_ending_in_the_range(trained, aapl_file, tmp_path):
    _, folder = trained
    out = tmp_path / "a.png"
    result = pipeline.attention(folder / "tiny.h5", aapl_file, start="2017-06-01", end="2017-09-29", out=out)
    bars = load_ohlcv(aapl_file)
    expected = bars.loc["2017-06-01":"2017-09-29"].index
    assert list(result.dates) == list(expected) and result.ticker == "AAPL"
    assert result.weights.shape == (len(expected), 10)
    np.testing.assert_allclose(result.weights.sum(axis=1), 1, atol=1e-5)
    model = load_model(folder / "tiny.h5")
    windows, dates = feature_windows(bars, model.feature_names_, model.sequence_length)
    chosen = windows.subset(np.flatnonzero((dates >= "2017-06-01") & (dates <= "2017-09-29")))
    np.testing.assert_allclose(result.proba, model.predict_proba(chosen), atol=1e-6)
    assert result.counts.tolist() == np.bincount(model.predict(chosen), minlength=3).tolist()
    assert result.peak_lag == int(np.argmax(result.weights.mean(axis=0))) - 9
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.out == str(out)


def test_without_start_the_last_windows_and_no_file(trained, aapl):
    result = pipeline.attention(trained[0].model, aapl.iloc[-400:], last=30)
    assert len(result.dates) == 30 and result.dates[-1] == aapl.index[-1] and result.out is None
    assert "wrote" not in result.format()


def test_the_cli_prints_what_the_library_returns(trained, aapl_file, tmp_path, capsys):
    path = trained[1] / "tiny.h5"
    result = pipeline.attention(path, aapl_file, last=40)
    out = tmp_path / "cli.png"
    assert main(["attention", "--model-path", str(path), "--data-path", str(aapl_file), "--last", "40",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{result.format()}\nwrote {out}\n"


def test_a_model_without_attention_is_an_option_error_naming_the_model(universe_run, aapl_file, tmp_path):
    lstm = universe_run[0].model
    with pytest.raises(pipeline.OptionError, match="no temporal attention layer") as info:
        pipeline.attention(lstm, aapl_file, out=tmp_path / "a.png")
    assert info.value.spelled(lambda name: "--model-path").startswith("--model-path ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arguments, fragment", [
    (dict(start="2017-09-01", end="2017-06-01"), "start 2017-09-01 is after end 2017-06-01"),
    (dict(start="2019-01-01"), "no window ends between 2019-01-01"),
    (dict(out="attention"), "out must end in a suffix"),
])
def test_bad_arguments(trained, aapl_file, arguments, fragment):
    with pytest.raises(pipeline.OptionError, match=fragment):
        pipeline.attention(trained[1] / "tiny.h5", aapl_file, **arguments)


def test_a_universe_is_refused(trained, universe_folder):
    with pytest.raises(pipeline.OptionError, match="give one ticker's CSV file"):
        pipeline.attention(trained[1] / "tiny.h5", universe_folder)
