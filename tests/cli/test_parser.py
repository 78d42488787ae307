"""The flags: named after their parameters, choices and defaults from the library, each declared once and shared
by the commands that take it (one vocabulary), old spellings still read for one release with a one-line warning."""

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from skills import pipeline
from skills.cli import build_parser, main
from skills.cli.parser import UsageError, parse_args, ray_options
from skills.cli.train import fit_options, network_options
from skills.data import (
    BATCH_BY,
    CROSS_SECTION_MODES,
    LABEL_METHODS,
    SCALERS,
    default_data_path,
    prepare_dataset,
    prepare_walk_forward,
)
from skills.data.labels import LABEL_BASES
from skills.data.universe import BAD_FILE_POLICIES, BAD_ROW_POLICIES
from skills.evaluation.parallel import RayOptions
from skills.models import MODEL_NAMES, model_params
from skills.strategy import DEFAULT_CONFIDENCE, DEFAULT_REBALANCE, run_backtest
from skills.training import LR_SCHEDULES, MONITORS, OPTIMIZERS, PRECISIONS, TrainConfig
from skills.tuning import tune

ROOT = Path(__file__).resolve().parents[2]


def _choices(command: str) -> dict:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {a.option_strings[0]: tuple(a.choices) for a in sub._actions if a.choices}


def _flags(command: str) -> dict:
    """Flag -> its argparse action, of ``command``."""
    return dict(build_parser().commands[command]._option_string_actions)


def new_model(name: str, args):
    """The model the network flags of ``args`` make of architecture ``name`` (as ``train`` and ``compare`` do)."""
    return pipeline.new_model(name, args.sequence_length, **network_options(name, args))


def _defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_choices_come_from_the_library():
    assert _choices("train") == {"--label": LABEL_METHODS, "--scaler": SCALERS, "--model": MODEL_NAMES,
                                 "--optimizer": OPTIMIZERS, "--lr-schedule": LR_SCHEDULES,
                                 "--class-weight": ("none", "balanced"), "--precision": PRECISIONS,
                                 "--label-method": LABEL_METHODS, "--on-bad-rows": BAD_ROW_POLICIES,
                                 "--on-bad-files": BAD_FILE_POLICIES, "--cross-section": CROSS_SECTION_MODES,
                                 "--rnn-type": ("gru", "lstm"), "--base-model": ("gru", "lstm"),
                                 "--batch-by": BATCH_BY, "--monitor": MONITORS,
                                 "--label-basis": LABEL_BASES}


@pytest.mark.parametrize("command", ["train", "compare"])
def test_training_defaults_are_those_of_train_config(command):
    _, args = parse_args([command])
    config = TrainConfig()
    options = fit_options(args)
    assert options == {"epochs": config.epochs, "batch_size": config.batch_size, "learning_rate": config.learning_rate,
                       "optimizer": config.optimizer, "lr_schedule": config.lr_schedule, "clipnorm": config.clipnorm,
                       "patience": config.patience, "class_weight": config.class_weight,
                       "precision": config.precision, "seed": config.seed,
                       "monitor": config.monitor, "n_seeds": config.n_seeds, "devices": config.devices}
    assert (options["epochs"], options["batch_size"], options["patience"]) == (100, 32, 5)  # the main job's


def test_the_default_run_trains_the_default_attention_lstm():
    """`python train_attention_lstm.py` with no flags: the bundled data, the Attention-LSTM's own defaults."""
    _, args = parse_args(["train"])
    assert Path(args.data_path) == default_data_path() == ROOT / "data"
    assert args.model_path == str(Path("models") / "attention_lstm.h5")
    assert (args.sequence_length, args.horizon, args.label, args.threshold, args.scaler) == (30, 1, "fixed", None,
                                                                                             "standard")
    assert (args.val_fraction, args.test_fraction, args.tensorboard_dir, args.resume) == (0.15, 0.15, None, False)
    model = new_model(args.model, args)
    assert type(model).__name__ == "AttentionLSTMModel"
    assert model.get_params() == dict(sequence_length=30, lstm_units=128, attention_units=32, dropout_rate=0.26,
                                      bidirectional=True)


# the parameter each flag sets, and the library call whose default the flag shows, per command
LIBRARY_DEFAULTS = [
    ("data", prepare_dataset, {}), ("train", prepare_dataset, {}), ("compare", prepare_walk_forward, {}),
    ("train", pipeline.train, {"model": "model", "model_path": "model_path"}),
    ("compare", pipeline.compare, {"models": "models", "n_splits": "n_splits"}),
    ("attention", pipeline.attention, {"last": "last"}),
    ("backtest", run_backtest, {"cash": "cash", "commission": "commission", "slippage": "slippage"}),
    ("tune", tune, {"trials": "trials", "folds": "n_splits", "epochs": "epochs", "mode": "mode",
                    "sequence_length": "sequence_length", "val_fraction": "val_fraction",
                    "test_fraction": "test_fraction"}),
]
DATA_PARAMETERS = ("sequence_length", "horizon", "label", "scaler", "val_fraction", "test_fraction", "cross_section",
                   "mode", "label_basis")


@pytest.mark.parametrize("command, function, dests", LIBRARY_DEFAULTS)
def test_flag_defaults_are_those_of_the_library_call(command, function, dests):
    """A flag that sets a parameter of the command's library call defaults to that call's own default."""
    defaults = _defaults(function)
    dests = dests or {name: name for name in DATA_PARAMETERS if name in defaults}
    argv = [command, "--model-path", "m.h5"] if command in ("backtest", "attention") else [command]
    args = vars(parse_args(argv + (["--data-path", "a.csv"] if command == "attention" else []))[1])
    given = {dest: args[dest] for dest in dests.values()}
    expected = {dest: defaults[param] for param, dest in dests.items()}
    for dest, value in expected.items():  # a sequence or a path is shown as text
        if isinstance(value, tuple):
            expected[dest] = ",".join(value)
        elif isinstance(value, Path):
            expected[dest] = str(value)
    assert given and given == expected
    assert command != "compare" or "test_fraction" not in args  # walk-forward folds have no test fraction


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


OLD_AND_NEW = [("train", ["--dropout", "0.1"], ["--dropout-rate", "0.1"]),
               ("train", ["--label-method", "quantile"], ["--label", "quantile"]),
               ("train", ["--tensorboard", "logs"], ["--tensorboard-dir", "logs"]),
               ("compare", ["--folds", "2"], ["--n-splits", "2"]),
               ("tune", ["--folds", "2"], ["--n-splits", "2"]),
               ("tune", ["--cpus-per-trial", "2"], ["--cpus-per-task", "2"]),
               ("tune", ["--gpus-per-trial", "0.5"], ["--gpus-per-task", "0.5"]),
               ("backtest", ["--model", "m.h5"], ["--model-path", "m.h5"]),
               ("attention", ["--model", "m.h5", "--data-path", "a.csv"], ["--model-path", "m.h5", "--data-path",
                                                                           "a.csv"])]


@pytest.mark.parametrize("command, old, new", OLD_AND_NEW)
def test_each_old_spelling_parses_to_the_same_value_with_a_one_line_warning(command, old, new, capsys):
    _, given_old = parse_args([command, *old])
    warned = capsys.readouterr().err.splitlines()
    _, given_new = parse_args([command, *new])
    assert vars(given_old) == vars(given_new) and capsys.readouterr().err == ""
    assert warned == [line for line in warned if line.startswith(f"skills {command}: warning: {old[0]} is an old "
                                                                 f"spelling of {new[0]}")] and len(warned) == 1


def test_the_old_cpus_of_tune_is_the_same_local_ray(monkeypatch, capsys):
    """``tune --cpus N`` started a local Ray of N CPUs: N / --cpus-per-task trials at once, as --workers does."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    old = ray_options(parse_args(["tune", "--cpus", "2"])[1], serial=False)
    assert old == ray_options(parse_args(["tune", "--workers", "2"])[1], serial=False) == RayOptions(workers=2)
    old = ray_options(parse_args(["tune", "--cpus", "4", "--cpus-per-trial", "2"])[1], serial=False)
    assert old == RayOptions(workers=2, cpus_per_task=2) and old.workers * old.cpus_per_task == 4
    assert "--cpus is an old spelling of --workers" in capsys.readouterr().err
    with pytest.raises(UsageError, match="give one of them"):
        ray_options(parse_args(["tune", "--cpus", "2", "--workers", "2"])[1], serial=False)


OLD_SPELLING_OF = {"--dropout": "--dropout-rate", "--label-method": "--label", "--tensorboard": "--tensorboard-dir",
                   "--folds": "--n-splits", "--model": "--model-path", "--cpus": "--workers",
                   "--cpus-per-trial": "--cpus-per-task", "--gpus-per-trial": "--gpus-per-task"}


def test_old_spellings_are_hidden_from_help(capsys):
    commands = {"train": ("--dropout", "--label-method", "--tensorboard"), "compare": ("--folds",),
                "backtest": ("--model",), "attention": ("--model",),
                "tune": ("--folds", "--cpus", "--cpus-per-trial", "--gpus-per-trial")}
    for command, old in commands.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = set(capsys.readouterr().out.split())
        assert not set(old) & shown and {OLD_SPELLING_OF[flag] for flag in old} <= shown, command


def test_model_is_an_architecture_and_model_path_a_file_in_every_command():
    for command, sub in build_parser().commands.items():
        flags = sub._option_string_actions
        if "--model" in flags and flags["--model"].help != argparse.SUPPRESS:
            assert command in ("train", "tune") and tuple(flags["--model"].choices) == MODEL_NAMES
        if "--model-path" in flags:
            assert flags["--model-path"].choices is None and flags["--model-path"].type is None


def _same(action, other) -> bool:
    return (action.type, action.choices, action.default, action.help) == (other.type, other.choices,
                                                                         other.default, other.help)


def test_compare_and_tune_take_one_set_of_ray_flags_with_one_meaning(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    compare, tune = _flags("compare"), _flags("tune")
    for flag in ("--address", "--cpus-per-task", "--gpus-per-task", "--n-splits", "--mode"):
        assert _same(compare[flag], tune[flag]), flag
    flags = ["--workers", "3", "--cpus-per-task", "2", "--gpus-per-task", "0.5"]
    for command, serial in (("compare", True), ("tune", False)):
        assert ray_options(parse_args([command, *flags])[1], serial) == RayOptions(3, None, 2, 0.5)
        assert ray_options(parse_args([command, "--address", "auto"])[1], serial) == RayOptions(address="auto")
    assert ray_options(parse_args(["compare"])[1]) is None  # serial, in the process
    assert ray_options(parse_args(["tune"])[1], serial=False) == RayOptions()  # a local Ray of all CPUs
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    for command, serial in (("compare", True), ("tune", False)):
        assert ray_options(parse_args([command])[1], serial).resolved_address() == "auto"


@pytest.mark.parametrize("argv, message", [
    (["compare", "--cpus-per-task", "2"], "--cpus-per-task only with --workers N or --address ADDR"),
    (["compare", "--workers", "2", "--address", "auto"], "give one of them"),
    (["tune", "--workers", "2", "--address", "auto"], "give one of them"),
])
def test_ray_flags_that_cannot_work_are_one_line_and_exit_2(argv, message, data_dir, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main([*argv, "--data-path", str(data_dir / "AAPL.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_backtest_and_compare_declare_the_strategy_flags_once_with_the_librarys_defaults():
    backtest, compare = _flags("backtest"), _flags("compare")
    for flag in ("--strategy", "--confidence-threshold", "--k", "--n-drop", "--rebalance", "--commission"):
        assert _same(backtest[flag], compare[flag]), flag
    assert f"else {DEFAULT_CONFIDENCE})" in compare["--confidence-threshold"].help
    assert f"(default: {DEFAULT_REBALANCE})" in compare["--rebalance"].help
    assert compare["--commission"].default == inspect.signature(run_backtest).parameters["commission"].default
    # unset, the top-k options stay None: the library call resolves them (and refuses them with --strategy ml)
    for command in ("compare", "backtest"):
        args = parse_args([command, "--model-path", "m.h5"] if command == "backtest" else [command])[1]
        assert (args.k, args.n_drop, args.rebalance) == (None, None, None)


@pytest.mark.parametrize("command", ["data", "train", "backtest", "compare", "tune"])
def test_the_default_data_is_the_bundled_data_of_the_package(command):
    argv = [command, "--model-path", "m.h5"] if command == "backtest" else [command]
    assert parse_args(argv)[1].data_path == str(default_data_path())


HELP_FRAGMENTS = ("usage: skills train", "--epochs EPOCHS upper bound; early stopping ends sooner (default: 100)",
                  "(default: 32)", "(default: 5)", "(default: attention_lstm)",
                  "(default: attention_lstm 128, lstm 64)", "(default: models/attention_lstm.h5)",
                  "(default: attention_lstm 0.26, lstm 0.2, transformer 0.1")  # then any newer architecture


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert info.value.code == 0
    for fragment in HELP_FRAGMENTS:
        assert fragment in text, fragment


@pytest.mark.integration
def test_the_training_script_is_the_train_command():
    """``train_attention_lstm.py --help``, in a fresh process: the help of ``skills train``."""
    done = subprocess.run([sys.executable, str(ROOT / "train_attention_lstm.py"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for fragment in HELP_FRAGMENTS:
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
