"""`skills.pipeline.train`: the files it writes, the result it returns, its errors, and the CLI printing it."""

import json

import numpy as np
import pytest

from skills import pipeline
from skills.cli import main
from skills.evaluation.tables import format_confusion, format_table
from skills.models import load_model
from skills.strategy import DEFAULT_REBALANCE, topk_defaults

from .conftest import TINY


def test_train_writes_the_model_report_and_plots_and_returns_their_figures(trained):
    result, folder = trained
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.confusion.png", "tiny.curves.png", "tiny.h5",
                                                        "tiny.report.json"]  # no backup, no lock left
    assert result.files == {"model": folder / "tiny.h5", "report": folder / "tiny.report.json",
                            "curves": folder / "tiny.curves.png", "confusion": folder / "tiny.confusion.png"}
    assert (folder / "tiny.curves.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((folder / "tiny.report.json").read_text())
    assert report == json.loads(json.dumps(result.report, default=str))  # the file holds the returned report
    assert set(result.results) == {"attention_lstm", "majority", "prior", "lightgbm"}
    assert report["test_metrics"] == json.loads(json.dumps(result.results))
    assert report["flags"]["epochs"] == 1 and report["flags"]["model"] == "attention_lstm"
    training = report["training"]  # what the trainer resolved: the architecture's rate, the batch over devices
    assert training["learning_rate"] == result.model.default_learning_rate and training["epochs_run"] == 1
    assert training["batch_size"] == training["global_batch_size"] == TINY["batch_size"]  # one device
    assert result.epochs_run == 1 == report["timings"]["epochs_run"] == len(result.model.history_["loss"])
    assert result.topk is None and result.n_tickers == 1 and result.load_report is None  # one ticker: no top-k

    test = result.data.test
    assert sum(map(sum, result.results["attention_lstm"]["confusion_matrix"])) == len(test)
    saved = load_model(result.files["model"])
    np.testing.assert_allclose(saved.predict_proba(test), result.model.predict_proba(test), atol=1e-6)
    assert saved.sequence_length == 10 and saved.get_params()["lstm_units"] == 4


def test_format_is_the_table_and_confusion_of_the_results(trained):
    result, folder = trained
    text = result.format()
    assert result.table() == format_table(result.results)
    assert result.confusion() == format_confusion(result.results["attention_lstm"]["confusion_matrix"])
    assert result.table() in text and result.confusion() in text
    first = text.splitlines()[1]
    assert first.startswith(f"Test split: {len(result.data.test)} windows, ") and "(AAPL); 1 epochs in " in first
    assert text.splitlines()[2] == "labels: fixed, horizon 1, on open-to-open returns (the IC too)"
    assert text.endswith(f"wrote {folder / 'tiny.h5'}, {folder / 'tiny.report.json'}, {folder / 'tiny.curves.png'}, "
                         f"{folder / 'tiny.confusion.png'}")
    accuracy = result.results["attention_lstm"]["accuracy"]
    assert f"{accuracy:.4f}" in result.table().splitlines()[1]


@pytest.mark.parametrize("arguments, fragment, cli", [
    (dict(model_path="{tmp}/m.pkl"), "model_path must end in .h5 or .keras", "--model-path must end in .h5"),
    (dict(model="transformer", d_model=10, num_heads=4), "model transformer: ", "--model transformer: "),
    (dict(model="lstm", attention_units=4), "model lstm takes no attention_units", None),
    (dict(val_fraction=0.5, test_fraction=0.45), "val_fraction + test_fraction must leave room",
     "--val-fraction + --test-fraction must leave room"),
    (dict(resume=True), "resume: no model at", "--resume: no model at"),
    (dict(data="{tmp}/missing.csv"), "data {tmp}/missing.csv: no such file or folder",
     "--data-path {tmp}/missing.csv: no such file"),
])
def test_a_bad_argument_is_an_option_error_naming_it_and_nothing_is_written(tmp_path, aapl_file, arguments,
                                                                            fragment, cli):
    arguments = {key: value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value
                 for key, value in arguments.items()}
    call = dict(data=aapl_file, model="attention_lstm", model_path=tmp_path / "m.h5", sequence_length=10)
    with pytest.raises(pipeline.OptionError) as info:
        pipeline.train(**{**call, **arguments})
    assert fragment.replace("{tmp}", str(tmp_path)) in str(info.value) and "\n" not in str(info.value)
    if cli is not None:
        flag = info.value.spelled(lambda name: "--" + ("data-path" if name == "data" else name.replace("_", "-")))
        assert flag.startswith(cli.replace("{tmp}", str(tmp_path))), flag
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_keyword_is_a_type_error(tmp_path, aapl_file):
    with pytest.raises(TypeError, match="unexpected keyword argument.*: epoch$"):
        pipeline.train(aapl_file, model_path=tmp_path / "m.h5", epoch=1)


def test_the_cli_prints_what_the_library_returns_on_a_universe(universe_run, universe_folder):
    """The universe is traded by top-k (10 tickers): its k and n_drop come from `topk_defaults`, its rebalance from
    `DEFAULT_REBALANCE`, and the printed text is the result's `format`, figure for figure."""
    result, out, path = universe_run
    assert out == result.format() + "\n"  # nothing was left out of the universe: no load report under --quiet
    assert result.files["model"] == path and path.is_file()
    k, n_drop = topk_defaults(10)
    assert result.topk == {"k": k, "n_drop": n_drop, "rebalance": DEFAULT_REBALANCE} == result.report["data"]["topk"]
    assert f"top-k: k {k}, n_drop {n_drop}, rebalance every {DEFAULT_REBALANCE} bars" in out
    for row in ("rank IC (daily)", "top-k excess %", "top-k turnover"):
        assert row in result.table()
    excess = result.results["lstm"]["excess_annual_return"]
    assert f"{100 * excess:.4f}" in next(line for line in out.splitlines() if line.startswith("top-k excess %"))
    assert result.report["flags"]["data_path"] == str(universe_folder)  # the report records the flags
    assert result.load_report == [] and result.report["data"]["load_report"] == []


def test_prepare_is_what_the_data_command_prints(aapl_file, capsys):
    prepared = pipeline.prepare(aapl_file, sequence_length=10)
    assert main(["data", "--data-path", str(aapl_file), "--sequence-length", "10"]) == 0
    assert capsys.readouterr().out == prepared.summary() + "\n"
    assert len(prepared.train) > len(prepared.val) > 0 and prepared.sequence_length == 10


def test_train_options_reach_the_model_and_trainer(trained):
    result, _ = trained
    assert result.model.metadata_["training"]["seed"] == TINY["seed"]
    assert result.model.metadata_["training"]["batch_size"] == TINY["batch_size"]
