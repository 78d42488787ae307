"""The flags: named after their parameters, choices and defaults from the library, old spellings still read."""

import subprocess
import sys
from pathlib import Path

import pytest

from skills.cli import build_parser, main
from skills.cli.parser import parse_args
from skills.cli.train import fit_options, new_model
from skills.data import BATCH_BY, CROSS_SECTION_MODES, LABEL_METHODS, SCALERS
from skills.data.universe import BAD_FILE_POLICIES, BAD_ROW_POLICIES
from skills.models import MODEL_NAMES, model_params
from skills.training import LR_SCHEDULES, OPTIMIZERS, PRECISIONS, TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def _choices(command: str) -> dict:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {a.option_strings[0]: tuple(a.choices) for a in sub._actions if a.choices}


def test_choices_come_from_the_library():
    assert _choices("train") == {"--label": LABEL_METHODS, "--scaler": SCALERS, "--model": MODEL_NAMES,
                                 "--optimizer": OPTIMIZERS, "--lr-schedule": LR_SCHEDULES,
                                 "--class-weight": ("none", "balanced"), "--precision": PRECISIONS,
                                 "--label-method": LABEL_METHODS, "--on-bad-rows": BAD_ROW_POLICIES,
                                 "--on-bad-files": BAD_FILE_POLICIES, "--cross-section": CROSS_SECTION_MODES,
                                 "--rnn-type": ("gru", "lstm"), "--base-model": ("gru", "lstm"),
                                 "--batch-by": BATCH_BY}


@pytest.mark.parametrize("command", ["train", "compare"])
def test_training_defaults_are_those_of_train_config(command):
    _, args = parse_args([command])
    config = TrainConfig()
    options = fit_options(args)
    assert options == {"epochs": config.epochs, "batch_size": config.batch_size, "learning_rate": config.learning_rate,
                       "optimizer": config.optimizer, "lr_schedule": config.lr_schedule, "clipnorm": config.clipnorm,
                       "patience": config.patience, "class_weight": config.class_weight,
                       "precision": config.precision, "seed": config.seed}
    assert (options["epochs"], options["batch_size"], options["patience"]) == (100, 32, 5)  # the main job's


def test_the_default_run_trains_the_default_attention_lstm():
    """`python train_attention_lstm.py` with no flags: the bundled data, the Attention-LSTM's own defaults."""
    _, args = parse_args(["train"])
    assert Path(args.data_path) == ROOT / "data" and args.model_path == str(Path("models") / "attention_lstm.h5")
    assert (args.sequence_length, args.horizon, args.label, args.threshold, args.scaler) == (30, 1, "fixed", None,
                                                                                             "standard")
    assert (args.val_fraction, args.test_fraction, args.tensorboard_dir, args.resume) == (0.15, 0.15, None, False)
    model = new_model(args.model, args)
    assert type(model).__name__ == "AttentionLSTMModel"
    assert model.get_params() == dict(sequence_length=30, lstm_units=128, attention_units=64, dropout_rate=0.3,
                                      bidirectional=True)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_network_flags_reach_only_the_architectures_that_take_them(name):
    _, args = parse_args(["train", "--model", name, "--sequence-length", "12", "--lstm-units", "16",
                          "--attention-units", "8", "--dropout-rate", "0.25", "--d-model", "32", "--num-heads", "2",
                          "--num-layers", "1"])
    given = dict(sequence_length=12, lstm_units=16, attention_units=8, dropout_rate=0.25, d_model=32, num_heads=2,
                 num_layers=1)
    defaults = model_params(name)
    expected = {key: given.get(key, default) for key, default in defaults.items()}
    assert new_model(name, args).get_params() == expected


def test_the_zoo_flags_reach_their_architectures():
    _, args = parse_args(["compare", "--hidden-size", "16", "--kernel-size", "5", "--rnn-type", "lstm",
                          "--channels", "8", "--cnn-filters", "4", "--num-branches", "3", "--ff-dim", "32",
                          "--batch-by", "date"])
    assert new_model("alstm", args).get_params()["rnn_type"] == "lstm"
    assert new_model("alstm", args).get_params()["hidden_size"] == 16
    tcn = new_model("tcn", args).get_params()
    assert (tcn["channels"], tcn["kernel_size"]) == (8, 5)
    krnn = new_model("krnn", args).get_params()
    assert (krnn["cnn_filters"], krnn["num_branches"], krnn["hidden_size"], krnn["kernel_size"]) == (4, 3, 16, 5)
    assert new_model("localformer", args).get_params()["ff_dim"] == 32
    assert fit_options(args)["batch_by"] == "date"
    _, args = parse_args(["compare"])
    assert args.models == "attention_lstm,causal_attention_lstm,lstm,transformer"  # the zoo by name only
    assert args.confidence_threshold is None  # each model's validation-chosen threshold
    _, args = parse_args(["backtest", "--model-path", "m.h5", "--confidence-threshold", "AUTO"])
    assert args.confidence_threshold == "auto"


def test_unset_network_flags_keep_each_architectures_defaults():
    _, args = parse_args(["compare", "--sequence-length", "12"])
    for name in MODEL_NAMES:
        assert new_model(name, args).get_params() == {**model_params(name), "sequence_length": 12}


def test_old_spellings_still_work_and_are_hidden_from_help(capsys):
    old = {"train": ["--dropout", "0.1", "--label-method", "quantile", "--tensorboard", "logs"],
           "compare": ["--folds", "2"], "backtest": ["--model", "m.h5"], "attention": ["--model", "m.h5"]}
    new = {"train": ["--dropout-rate", "0.1", "--label", "quantile", "--tensorboard-dir", "logs"],
           "compare": ["--n-splits", "2"], "backtest": ["--model-path", "m.h5"],
           "attention": ["--model-path", "m.h5"]}
    for command, flags in old.items():
        extra = ["--data-path", "a.csv"] if command == "attention" else []
        assert vars(parse_args([command, *flags, *extra])[1]) == vars(parse_args([command, *new[command], *extra])[1])
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = capsys.readouterr().out
        assert all(flag not in shown.split() for flag in flags[::2])
        assert all(flag in shown for flag in new[command][::2])


def test_help_shows_the_defaults():
    done = subprocess.run([sys.executable, str(ROOT / "train_attention_lstm.py"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for fragment in ("usage: skills train", "--epochs EPOCHS upper bound; early stopping ends sooner (default: 100)",
                     "(default: 32)", "(default: 5)", "(default: attention_lstm)",
                     "(default: attention_lstm 128, lstm 64)", "(default: models/attention_lstm.h5)",
                     "(default: attention_lstm 0.3, lstm 0.2, transformer 0.1"):  # then any newer architecture
        assert fragment in text, fragment


@pytest.mark.parametrize("argv, fragment", [
    (["backtest"], "the following arguments are required: --model-path"),
    (["train", "--optimizer", "lion"], "invalid choice: 'lion'"),
    (["train", "--label", "median"], "invalid choice: 'median'"),
    (["compare", "--epochs", "0"], "must be a positive integer, got 0"),
    (["compare", "--confidence-threshold", "often"], "expected 'auto' or a probability in (0, 1], got often"),
])
def test_bad_flags_are_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and fragment in err[0], err
