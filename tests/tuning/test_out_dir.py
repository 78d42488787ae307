"""``--out`` belongs to one search: a second search while the first runs, or a different search on the same folder,
is refused with one line before Ray starts (and writes nothing there)."""

import json
import subprocess
import sys

import pytest

from skills.data import load_ohlcv
from skills.tuning import TuningError, tune

from .conftest import TINY_SPACE


def _tune(bars, out, **changes):
    return tune("lstm", bars, **{"trials": 2, "folds": 2, "epochs": 1, "out": out, "space": TINY_SPACE,
                                 "refit": False, "quiet": True, **changes})


def test_a_folder_in_use_by_a_live_search_is_refused(bars_csv, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(str(other.pid))
        with pytest.raises(TuningError, match=f"in use by another search \\(process {other.pid}\\)"):
            _tune(load_ohlcv(bars_csv), out)
    finally:
        other.kill()
        other.wait()
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_a_different_search_on_the_same_folder_is_refused(bars_csv, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    bars = load_ohlcv(bars_csv)
    before = {"model": "lstm", "trials": 2, "folds": 3}
    (out / "search.json").write_text(json.dumps(before))
    with pytest.raises(TuningError, match="holds a search with other settings .*folds.*give another --out"):
        _tune(bars, out)
    assert json.loads((out / "search.json").read_text()) == before and not (out / ".lock").exists()


def test_one_fold_is_refused_before_ray_starts(bars_csv, tmp_path):
    with pytest.raises(TuningError, match="at least 2 folds, got 1"):
        _tune(load_ohlcv(bars_csv), tmp_path / "out", folds=1)
    assert not (tmp_path / "out").exists()
