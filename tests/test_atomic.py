"""`write_together`: several files appear together or not at all."""

import pytest

from skills._atomic import write_together


def _text(content):
    return lambda tmp: tmp.write_text(content)


def test_every_file_appears_with_its_content(tmp_path):
    targets = [tmp_path / "a.json", tmp_path / "sub" / "b.png", tmp_path / "c.txt"]
    written = write_together({path: _text(path.name) for path in targets})
    assert written == [str(path) for path in targets]
    assert [path.read_text() for path in targets] == ["a.json", "b.png", "c.txt"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "b.png", "c.txt", "sub"]  # no temporary left


@pytest.mark.parametrize("failing", [0, 1, 2])
def test_a_failing_writer_leaves_every_target_as_it_was(tmp_path, failing):
    old = tmp_path / "b.txt"
    old.write_text("the previous run's file")
    targets = [tmp_path / "a.txt", old, tmp_path / "c.txt"]

    def broken(tmp):
        tmp.write_text("half a file")
        raise OSError("disk full")

    writers = {path: broken if i == failing else _text("new") for i, path in enumerate(targets)}
    with pytest.raises(OSError, match="disk full"):
        write_together(writers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"] and old.read_text() == "the previous run's file"


def test_writers_get_a_temporary_path_with_the_targets_suffix(tmp_path):
    seen = []
    write_together({tmp_path / "m.weights.h5": lambda tmp: (seen.append(tmp), tmp.write_bytes(b"x"))})
    assert seen[0].name.endswith(".tmp.weights.h5") and seen[0].parent == tmp_path and not seen[0].exists()


def test_nothing_to_write_writes_nothing(tmp_path):
    assert write_together({}) == [] and list(tmp_path.iterdir()) == []
