"""How ``python -m skills`` reports a NaN loss, an unexpected error and an unknown flag: one line, exit code."""

import pytest

from skills.cli import main

NET = ["--model", "lstm", "--sequence-length", "10", "--lstm-units", "4", "--epochs", "2",
       "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def csv(tmp_path_factory, aapl):
    path = tmp_path_factory.mktemp("reliability") / "AAPL.csv"
    aapl.iloc[-400:].to_csv(path)
    return path


def test_the_train_command_reports_a_nan_loss_in_one_line_and_writes_nothing(csv, tmp_path, capsys):
    """A NaN in the first epoch (1e39 overflows float32: an infinite rate): exit 2 and no files."""
    code = main(["train", "--data-path", str(csv), "--model-path", str(tmp_path / "m.h5"), *NET,
                 "--learning-rate", "1e39"])
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skills")]
    assert len(err) == 1 and "the training loss became" in err[0] and "lower the learning rate" in err[0]
    assert list(tmp_path.iterdir()) == []  # no model, report, plot or backup


# -- unexpected errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_an_unexpected_error_exits_1_with_the_traceback_only_under_debug(debug, csv, tmp_path, capsys):
    """A model path below a file: the operating system refuses the folder (on every backend, before training)."""
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder of the model path should be")
    argv = ["train", "--data-path", str(csv), "--model-path", str(blocker / "out" / "m.h5"), *NET, *debug]
    assert main(argv) == 1
    err = capsys.readouterr().err
    if debug:
        assert "Traceback (most recent call last)" in err and "Not a directory" in err
    else:
        lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
        assert len(lines) == 1 and "Traceback" not in err
        assert lines[0].startswith("skills train: unexpected error: NotADirectoryError") and "rerun with --debug" \
            in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and blocker.read_text().startswith("a file")


def test_debug_may_come_before_the_command_and_unknown_flags_are_one_line(csv, capsys):
    assert main(["--debug", "data", "--data-path", str(csv), "--sequence-length", "10"]) == 0
    with pytest.raises(SystemExit) as info:
        main(["data", "--data-path", str(csv), "--bogus"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "skills: error: unrecognized arguments: --bogus"
