"""``--out`` belongs to one search: a second search while the first runs, or a different search on the same folder,
is refused with one line before Ray starts (and writes nothing there)."""

import json
import subprocess
import sys

import pytest

from skills.data import load_ohlcv
from skills.tuning import TuningError, tune

from .conftest import TINY_SPACE

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("ray")]  # one Ray at a time under -n


def _tune(bars, out, **changes):
    return tune("lstm", bars, **{"trials": 2, "folds": 2, "epochs": 1, "out": out, "space": TINY_SPACE,
                                 "refit": False, "quiet": True, **changes})


def test_a_folder_in_use_by_a_live_search_is_refused(bars_csv, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(  # another process holding the folder's lock, as a running search does
        [sys.executable, "-c", "import sys, time\nfrom skills._lock import exclusive_lock\n"
         f"with exclusive_lock({str(out)!r}, 'search folder'):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TuningError, match=f"another run \\(process {holder.pid}\\) is writing this search folder"):
            _tune(load_ohlcv(bars_csv), out)
    finally:
        holder.kill()
        holder.wait()
    assert list(out.iterdir()) == []  # refused before anything was written (a killed holder: tests/test_locks.py)


def test_a_different_search_on_the_same_folder_is_refused(bars_csv, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    bars = load_ohlcv(bars_csv)
    before = {"model": "lstm", "trials": 2, "folds": 3}
    (out / "search.json").write_text(json.dumps(before))
    with pytest.raises(TuningError, match="holds a search with other settings .*folds.*give another --out"):
        _tune(bars, out)
    assert json.loads((out / "search.json").read_text()) == before and not (tmp_path / "out.lock").exists()


def test_one_fold_is_refused_before_ray_starts(bars_csv, tmp_path):
    with pytest.raises(TuningError, match="at least 2 folds, got 1"):
        _tune(load_ohlcv(bars_csv), tmp_path / "out", folds=1)
    assert not (tmp_path / "out").exists()
