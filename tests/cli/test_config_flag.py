"""``train --config FILE`` and ``compare --config FILE``: the file's values become defaults, flags given on the
command line win, and an unknown key or a refused value is one line and exit 2."""

import json

import pytest

from skills.cli.parser import parse_args


def _config(tmp_path, entries, name="config.json"):
    path = tmp_path / name
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return str(path)


def test_the_file_sets_defaults_and_given_flags_win(tmp_path):
    path = _config(tmp_path, {"model": "lstm", "lstm_units": 16, "learning_rate": 0.0003, "sequence_length": 10,
                              "class_weight": "none", "threshold": None, "features": "all", "epochs": 2})
    _, args = parse_args(["train", "--config", path, "--epochs", "5"])
    assert (args.model, args.lstm_units, args.learning_rate, args.sequence_length, args.epochs) == \
        ("lstm", 16, 0.0003, 10, 5)
    _, args = parse_args(["compare", "--config", path, "--lstm-units", "32"])
    assert (args.models, args.lstm_units, args.learning_rate, args.epochs) == ("lstm", 32, 0.0003, 2)


def test_yaml_files_and_dashed_keys_work(tmp_path):
    path = _config(tmp_path, "batch-size: 64\ndropout-rate: 0.25\n", name="config.yaml")
    _, args = parse_args(["train", "--config", path])
    assert (args.batch_size, args.dropout_rate) == (64, 0.25)


@pytest.mark.parametrize("entries, words", [
    ({"lstm_unitz": 16, "trials": 3}, "unknown key(s) lstm_unitz, trials for train"),
    ({"batch_size": 0}, "batch_size: must be a positive integer"),
    ({"optimizer": "adamax"}, "optimizer must be one of adam, adamw, rmsprop, sgd"),
    ({"quiet": "yes"}, "quiet must be true or false"),
])
def test_a_bad_key_or_value_is_one_line_and_exit_2(tmp_path, capsys, entries, words):
    path = _config(tmp_path, entries)
    with pytest.raises(SystemExit) as stop:
        parse_args(["train", "--config", path])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and err.startswith("skills train: error: --config")


def test_a_missing_or_broken_file_is_one_line(tmp_path, capsys):
    for path in (str(tmp_path / "none.json"), _config(tmp_path, "{not json", name="bad.json")):
        with pytest.raises(SystemExit) as stop:
            parse_args(["compare", "--config", path])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("no such file" in err or "not valid JSON" in err)


def test_old_spellings_are_read_as_keys_too(tmp_path):
    path = _config(tmp_path, {"folds": 2, "dropout": 0.25, "label_method": "quantile", "model": "lstm"})
    _, args = parse_args(["compare", "--config", path])
    assert (args.n_splits, args.dropout_rate, args.label, args.models) == (2, 0.25, "quantile", "lstm")
    path = _config(tmp_path, {"tensorboard": "logs", "model": "lstm"}, name="train.json")
    _, args = parse_args(["train", "--config", path])
    assert (args.tensorboard_dir, args.model) == ("logs", "lstm")  # train's --model is its architecture
