"""Bad input through every command: the bad-CSV corpus, and bad model files (through the loader too).

Every case must give one line on stderr naming the problem, exit code 2, no traceback and no file written.
The CSV corpus lives in tests/data/bad/ (its README lists each file and the message it must give;
tests/data/test_bad_csv.py runs it through the library); the bad model files are made here from a tiny model
trained on real AAPL bars.
"""

import json
import re
import shutil
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from skills.cli import main
from skills.data import prepare_dataset
from skills.models import AttentionLSTMModel, ModelFileError, load_model
from skills.models.saving import FORMAT_VERSION

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
CORPUS = [  # (file name, fragment of the error) from the README table
    (m.group(1), m.group(2))
    for m in re.finditer(r"^\| `([^`]+)` \| [^|]+ \| (.+?) \|$", (BAD / "README.md").read_text(), re.M)
]
NET = ["--sequence-length", "10", "--lstm-units", "4", "--batch-size", "64", "--epochs", "1"]
ATT, LSTM = [*NET, "--attention-units", "4"], [*NET, "--num-layers", "1"]  # flags each architecture takes


# -- through the commands ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory, aapl):
    """The last 400 real AAPL bars as a CSV and a tiny Attention-LSTM trained on them (.h5 and .keras)."""
    folder = tmp_path_factory.mktemp("good")
    csv = folder / "AAPL.csv"
    aapl.iloc[-400:].to_csv(csv)
    model = AttentionLSTMModel(sequence_length=10, lstm_units=4, attention_units=4)
    model.fit(prepare_dataset(aapl.iloc[-400:], sequence_length=10), epochs=1, verbose=0)
    return csv, model.save(folder / "model.h5"), model.save(folder / "model.keras")


def _commands(data, model, out):
    """Each command's argv reading ``data`` and ``model`` and writing (if anything) under ``out``."""
    return {
        "data": ["data", "--data-path", data, "--sequence-length", "10"],
        "train": ["train", "--data-path", data, "--model-path", f"{out}/m.h5", *ATT, "--quiet"],
        "train --resume": ["train", "--data-path", data, "--model-path", model, "--resume", *ATT, "--quiet"],
        "backtest": ["backtest", "--model-path", model, "--data-path", data, "--plot", f"{out}/eq.png",
                     "--json", f"{out}/bt.json", "--quiet"],
        "attention": ["attention", "--model-path", model, "--data-path", data, "--out", f"{out}/att.png"],
        "predict": ["predict", "--model-path", model, "--data-path", data, "--json", f"{out}/p.json"],
        "compare": ["compare", "--data-path", data, "--models", "lstm", "--n-splits", "2", *LSTM, "--quiet",
                    "--json", f"{out}/cmp.json", "--plot", f"{out}/cmp.png"],
    }


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def _assert_refused(argv, fragment, out, capsys):
    before = sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else []
    code, err, _ = _run(argv, capsys)
    assert code == 2, (argv, err)
    assert len(err) == 1 and fragment in err[0] and err[0].startswith(f"skills {argv[0]}: error: "), err
    assert not out.exists() or list(out.iterdir()) == [], sorted(out.iterdir())
    if out.parent.exists():  # nothing written beside the inputs either (no model, report, plot or backup)
        assert sorted(p.name for p in out.parent.iterdir()) == before


@pytest.mark.parametrize("command", ["data", "train", "backtest", "attention", "compare"])
def test_every_corpus_file_through_every_command(command, good, tmp_path, capsys):
    _, h5, _ = good
    for name, fragment in CORPUS:
        out = tmp_path / name.replace(".", "_")
        out.mkdir()
        argv = _commands(str(BAD / name), str(h5), out)[command]
        if command in ("backtest", "attention") and name == "too_few_rows.csv":
            fragment = "give no complete window"  # these read one feed's windows, not a dataset
        _assert_refused(argv, fragment, out, capsys)


# -- bad model files ---------------------------------------------------------------------------------


def _set_metadata(path, **changes):
    if zipfile.is_zipfile(path):
        raise ValueError("edit .h5 files only")
    with h5py.File(path, "a") as handle:
        meta = json.loads(handle.attrs["skills_metadata"])
        meta.update(changes)
        handle.attrs["skills_metadata"] = json.dumps(meta)


def _lambda_model():
    """A Keras model whose Lambda layer writes the file named by $SKILLS_TEST_MARKER when it runs."""
    code = lambda x: (  # noqa: E731
        __import__("pathlib").Path(__import__("os").environ["SKILLS_TEST_MARKER"]).write_text("ran"), x)[1]
    return keras.Sequential([keras.Input((10, 50)), keras.layers.Lambda(code), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax")])


@pytest.fixture(scope="module")
def bad_models(good, tmp_path_factory, monkeypatch_module):
    """name -> (path, fragment of the error every loader and command must give)."""
    _, h5, keras_file = good
    folder = tmp_path_factory.mktemp("bad_models")
    whole = h5.read_bytes()
    rng = np.random.default_rng(0)
    files = {
        "empty.h5": (b"", "empty (0 bytes)"),
        "truncated.h5": (whole[: len(whole) // 2], "not a readable model file"),
        "truncated.keras": (keras_file.read_bytes()[:-200], "not a readable model file"),
        "random.keras": (rng.bytes(5000), "not a readable model file"),
    }
    models = {}
    for name, (content, fragment) in files.items():
        (folder / name).write_bytes(content)
        models[name] = (folder / name, fragment)
    plain = keras.Sequential([keras.Input((10, 50)), keras.layers.LSTM(4), keras.layers.Dense(3)])
    plain.save(folder / "plain_keras.keras")
    models["plain_keras.keras"] = (folder / "plain_keras.keras", "a Keras model, but not one saved by skills")
    newer = folder / "newer.h5"
    shutil.copy(h5, newer)
    _set_metadata(newer, format_version=FORMAT_VERSION + 1, calibration={"kind": "isotonic"})
    models["newer.h5"] = (newer, "upgrade the skills package")
    # Lambda models: plain, and with this package's metadata copied in (an attacker's file)
    marker = folder / "lambda_ran.txt"
    monkeypatch_module.setenv("SKILLS_TEST_MARKER", str(marker))
    lam = _lambda_model()
    for suffix in (".keras", ".h5"):
        lam.save(folder / f"lambda{suffix}")
    shutil.copy(folder / "lambda.h5", folder / "lambda_with_metadata.h5")
    with h5py.File(h5, "r") as src, h5py.File(folder / "lambda_with_metadata.h5", "a") as dst:
        dst.attrs["skills_metadata"] = src.attrs["skills_metadata"]
    for name in ("lambda.keras", "lambda.h5", "lambda_with_metadata.h5"):
        models[name] = (folder / name, "holds a Lambda layer")
    marker.unlink()  # building the model ran the function once; nothing may run it again
    return models, marker


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_bad_model_files_raise_model_file_error(bad_models, tmp_path):
    models, marker = bad_models
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "absent.h5")
    for name, (path, fragment) in models.items():
        with pytest.raises(ModelFileError) as info:
            load_model(path)
        assert str(path) in str(info.value) and fragment in str(info.value), name
        assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["backtest", "attention", "predict", "train --resume"])
def test_bad_model_files_through_the_commands(command, bad_models, good, tmp_path, capsys):
    models, marker = bad_models
    csv = str(good[0])
    for name, (path, fragment) in models.items():
        work = tmp_path / name.replace(".", "_")
        work.mkdir()
        target = work / path.name  # train --resume would write beside the model: give it its own folder
        shutil.copy(path, target)
        out = work / "out"
        _assert_refused(_commands(csv, str(target), out)[command], fragment, out, capsys)
        assert sorted(p.name for p in work.iterdir()) == [path.name]
    missing = tmp_path / "absent.h5"
    _assert_refused(_commands(csv, str(missing), tmp_path / "out")[command],
                    "no model at" if command == "train --resume" else "no such file", tmp_path / "out", capsys)
    assert not marker.exists()


def test_a_model_whose_features_the_data_cannot_provide(good, tmp_path, capsys):
    csv, h5, _ = good
    odd = tmp_path / "odd.h5"
    shutil.copy(h5, odd)
    names = json.loads(h5py.File(h5, "r").attrs["skills_metadata"])["feature_names"]
    _set_metadata(odd, feature_names=names[:-1] + ["feature_nobody_computes"])
    for command in ("backtest", "attention", "predict"):
        out = tmp_path / command
        _assert_refused(_commands(str(csv), str(odd), out)[command], "feature_nobody_computes", out, capsys)


def test_lambda_layers_are_refused_without_running_their_code(bad_models):
    """Our loader and Keras' safe mode both refuse; the control shows the file really carries code."""
    models, marker = bad_models
    for name in ("lambda.keras", "lambda.h5", "lambda_with_metadata.h5"):
        path = models[name][0]
        with pytest.raises(ModelFileError, match="Lambda"):
            load_model(path)
        with pytest.raises(ModelFileError, match="Lambda"):
            AttentionLSTMModel().load(path)
        if name != "lambda_with_metadata.h5":
            with pytest.raises(ValueError, match="Lambda"):
                keras.models.load_model(path, safe_mode=True)
        assert not marker.exists(), name
    keras.models.load_model(models["lambda.keras"][0], safe_mode=False)  # the control: unsafe loading runs it
    assert marker.read_text() == "ran"
    marker.unlink()
