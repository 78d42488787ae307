"""Model files written by skills 0.1.0 (format 1) still load, in the format-2 layout, and predict the same."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "models"

FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from skills.models import load_model
    X = np.load(sys.argv[2])["X"]
    out = {}
    for path in sys.argv[3:]:
        model = load_model(path)
        out[path] = {"class": type(model).__name__, "metadata": model.metadata_,
                     "proba": model.predict_proba(X).tolist()}
    with open(sys.argv[1], "w") as handle:
        json.dump(out, handle)
    """
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """What a fresh process (only `skills` imported) gets from the two 0.1.0 files."""
    result = tmp_path_factory.mktemp("old_files") / "loaded.json"
    paths = [str(FIXTURES / name) for name in ("v1_attention_lstm.keras", "v1_attention_lstm.h5")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(result), str(FIXTURES / "v1_expected.npz"), *paths],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(result.read_text())


@pytest.mark.parametrize("name", ["v1_attention_lstm.keras", "v1_attention_lstm.h5"])
def test_a_format_1_file_predicts_as_it_did(loaded, name):
    got = loaded[str(FIXTURES / name)]
    assert got["class"] == "AttentionLSTMModel"
    expected = np.load(FIXTURES / "v1_expected.npz")["proba"]
    np.testing.assert_allclose(np.array(got["proba"], dtype=np.float32), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["v1_attention_lstm.keras", "v1_attention_lstm.h5"])
def test_a_format_1_file_is_upgraded_to_the_format_2_layout(loaded, name):
    meta = loaded[str(FIXTURES / name)]["metadata"]
    assert set(meta) == {"format", "format_version", "model_class", "params", "feature_names", "scaler",
                         "class_names", "label_rule", "data", "training", "trading", "versions"}
    assert meta["trading"] is None  # no threshold was chosen on validation before format 2 recorded one
    assert meta["format_version"] == 2 and "train_start" not in meta and "dataset" not in meta
    assert meta["params"] == {"sequence_length": 8, "lstm_units": 4, "attention_units": 4, "dropout_rate": 0.1,
                              "bidirectional": True}
    assert len(meta["feature_names"]) == len(meta["scaler"]["offset"]) == 50
    assert meta["label_rule"]["horizon"] == 1 and meta["label_rule"]["method"] == "fixed"
    assert meta["data"] == {
        "tickers": ["AAPL"],
        "gap": 1,
        "date_ranges": {"train": ["2015-08-14", "2017-04-24"], "val": ["2017-04-26", "2017-09-05"],
                        "test": ["2017-09-07", "2018-01-18"]},
        "split_sizes": {"train": 426, "val": 92, "test": 92},
        "cross_section": "none",
    }
    # format 1 recorded the precision, not the other hyperparameters
    assert meta["training"]["precision"] == "float32"
    assert {key for key, value in meta["training"].items() if value is not None} == {"precision"}
    assert meta["versions"] == {"skills": "0.1.0", "keras": "3.15.1", "backend": "tensorflow"}
