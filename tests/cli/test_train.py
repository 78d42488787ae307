"""The data and training commands, driven through main([...]) on a small slice of the bundled data."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skills.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--sequence-length", "10", "--lstm-units", "8", "--attention-units", "8",
        "--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--batch-size", "64", "--quiet"]


@pytest.mark.parametrize("model", [  # one architecture in the fast tier; tests/pipeline trains an attention_lstm
    pytest.param("attention_lstm", marks=pytest.mark.integration),
    pytest.param("causal_attention_lstm", marks=pytest.mark.integration),
    "lstm",
    pytest.param("transformer", marks=pytest.mark.integration),
])
def test_train_writes_model_report_and_plots(tmp_path, small_csv, model, capsys):
    from skills.models import load_model

    path = tmp_path / "out" / f"{model}.h5"
    code = main(["train", "--data-path", str(small_csv), "--model", model, "--model-path", str(path), *TINY])
    assert code == 0
    out = capsys.readouterr().out
    for row in ("accuracy", "balanced acc", "macro-F1", "log loss", "majority", "confusion matrix"):
        assert row in out
    written = sorted(p.name for p in path.parent.iterdir())
    assert written == sorted([f"{model}.h5", f"{model}.report.json", f"{model}.curves.png",
                              f"{model}.confusion.png"])
    report = json.loads((path.parent / f"{model}.report.json").read_text())
    for key in ("model", "flags", "data", "test_metrics", "timings", "precision", "history", "params"):
        assert key in report
    assert report["precision"] == "float32"
    assert report["flags"]["model"] == model and report["flags"]["epochs"] == 1
    metrics = report["test_metrics"]
    assert set(metrics) == {model, "majority", "prior", "lightgbm"}
    for m in metrics.values():
        assert 0 <= m["accuracy"] <= 1 and np.isfinite(m["log_loss"])
        assert np.sum(m["confusion_matrix"]) == report["data"]["windows"]["test"]
    assert report["data"]["date_ranges"]["test"][1] <= "2018-01-19"
    loaded = load_model(path)
    assert loaded.sequence_length == 10
    assert (path.parent / f"{model}.curves.png").read_bytes()[:4] == b"\x89PNG"


def test_keras_suffix_and_mixed_precision_on_cpu(tmp_path, small_csv, capsys):
    from skills.models import load_model

    path = tmp_path / "m.keras"
    code = main(["train", "--data-path", str(small_csv), "--model", "lstm", "--model-path", str(path),
                 "--precision", "mixed_float16", *TINY[:-1]])
    assert code == 0
    assert "mixed_float16 on a CPU" in capsys.readouterr().err
    assert json.loads((tmp_path / "m.report.json").read_text())["precision"] == "mixed_float16"
    proba = load_model(path).predict_proba(np.zeros((2, 10, 50), np.float32))
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def _weights(path):
    from skills.models import load_model

    return load_model(path).network_.get_weights()


def _largest_change(before, after) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(before, after))


@pytest.mark.integration
def test_resume_starts_from_the_saved_weights(tmp_path, small_csv):
    """An epoch at a learning rate of 1e-12 leaves the weights where they started: a resumed run ends on the
    saved model's weights, a fresh run on its initial ones, far from them."""
    path = tmp_path / "r.h5"
    argv = ["train", "--data-path", str(small_csv), "--model", "lstm", *TINY]
    assert main([*argv, "--model-path", str(path)]) == 0
    saved = _weights(path)
    frozen = ["--learning-rate", "1e-12"]
    assert main([*argv, "--model-path", str(path), "--resume", *frozen]) == 0
    assert _largest_change(saved, _weights(path)) < 1e-6
    assert json.loads((tmp_path / "r.report.json").read_text())["flags"]["resume"] is True
    fresh = tmp_path / "fresh" / "r.h5"  # the same command without --resume: a new network
    assert main([*argv, "--model-path", str(fresh), *frozen]) == 0
    assert _largest_change(saved, _weights(fresh)) > 1e-3
    assert main(["train", "--data-path", str(small_csv), "--model", "transformer", "--model-path", str(path),
                 "--resume", *TINY]) == 2


@pytest.mark.parametrize("flags, fragment", [
    (["--data-path", "nope/missing.csv"], "no such file"),
    (["--sequence-length", "5000"], "no ticker has enough bars"),
    (["--model-path", "{tmp}/m.pkl"], "must end in .h5 or .keras"),
    (["--d-model", "10", "--num-heads", "4", "--model", "transformer"], "must be a multiple of `num_heads`"),
    (["--resume"], "no model at"),
    (["--epochs", "0"], "positive integer"),
    (["--model", "nosuchnet"], "invalid choice"),
])
def test_user_errors_print_one_line_exit_2_and_write_nothing(tmp_path, small_csv, flags, fragment, capsys):
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    argv = ["train", "--data-path", str(small_csv), "--model-path", str(tmp_path / "m.h5"), *TINY[:-1], *flags]
    code = None
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_bad_csv_from_the_script_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "BAD.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,10,9,11,10,100\n")
    run = subprocess.run([sys.executable, str(ROOT / "train_attention_lstm.py"), "--data-path", str(bad),
                          "--model-path", str(tmp_path / "m.h5")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    lines = [l for l in run.stderr.splitlines() if "BAD.csv" in l]
    assert len(lines) == 1 and "high is below low" in lines[0] and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BAD.csv"]
