"""Backup and resume through the library: a run crashed mid-way and resumed ends as if never stopped."""

import json

import keras
import numpy as np
import pytest

from skills.data import load_ohlcv, prepare_dataset
from skills.models import AttentionLSTMModel
from skills.training import TrainingError, remove_backup

# A resumed run is the uninterrupted one bit for bit where dropout draws from the network's own seed states, which
# the backup restores: jax (the default backend, so CI checks it) and TensorFlow. PyTorch draws unseeded dropout
# from its global RNG, which is not replayed.
EXACT = keras.backend.backend() != "torch"


@pytest.fixture(scope="module")
def small(aapl):
    return prepare_dataset(aapl.iloc[-400:], sequence_length=10)


def _crash_before(at):
    """Stands in for a crash: raises as epoch ``at`` (0-based) begins."""

    def crash(epoch, logs=None):
        if epoch == at:
            raise KeyboardInterrupt(f"crash before epoch {epoch + 1}")

    return keras.callbacks.LambdaCallback(on_epoch_begin=crash)


def _model():
    return AttentionLSTMModel(sequence_length=10, lstm_units=4, attention_units=4, dropout_rate=0.3)


@pytest.mark.slow
@pytest.mark.integration
def test_resume_restores_weights_optimizer_callbacks_dropout_and_shuffling(small, tmp_path, caplog):
    options = dict(epochs=5, batch_size=32, patience=1, verbose=0, learning_rate=0.02)
    reference = _model().fit(small, **options)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _model().fit(small, backup_dir=str(backup), callbacks=[_crash_before(2)], **options)
    state = json.loads((backup / "state.json").read_text())
    assert state["epochs_done"] == state["epoch"] == 2
    assert state["history"]["loss"] == reference.history_["loss"][:2]
    with caplog.at_level("WARNING", logger="skills.training"):
        resumed = _model().fit(small, backup_dir=str(backup), **options)
    assert "resuming from epoch 3 of 5" in caplog.text
    # early stopping (patience 1) and the plateau schedule stop and decay on the same epochs as the reference
    # (and bit for bit where EXACT: the same history and the same predictions)
    assert len(resumed.history_["loss"]) == len(reference.history_["loss"])
    assert resumed.history_["loss"][:2] == reference.history_["loss"][:2]
    if EXACT:
        assert resumed.history_ == reference.history_
        np.testing.assert_array_equal(resumed.predict_proba(small.test), reference.predict_proba(small.test))
    # the backup now holds the finished run: fitting again trains nothing and gives the same model
    caplog.clear()
    with caplog.at_level("WARNING", logger="skills.training"):
        again = _model().fit(small, backup_dir=str(backup), **options)
    assert "holds this run's finished training" in caplog.text and again.history_ == resumed.history_
    np.testing.assert_array_equal(again.predict_proba(small.test), resumed.predict_proba(small.test))
    assert remove_backup(backup) and not backup.exists() and not remove_backup(backup)


@pytest.mark.slow
@pytest.mark.integration
def test_another_runs_or_a_damaged_backup_is_refused(small, tmp_path, data_dir):
    goog = load_ohlcv(data_dir / "GOOG.csv").iloc[-400:]  # other real bars over the same dates
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup), callbacks=[_crash_before(1)])
    state = json.loads((backup / "state.json").read_text())
    with pytest.raises(TrainingError, match="different run"):  # another seed: another run
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup), seed=1)
    with pytest.raises(TrainingError, match="different run"):  # other data: another split and scaler
        _model().fit(prepare_dataset(goog, sequence_length=10), epochs=3, verbose=0, backup_dir=str(backup))
    (backup / state["weights"]).write_bytes(b"not an HDF5 file")  # damaged weights: named, not skipped
    with pytest.raises(TrainingError, match=f"{state['weights']}: cannot read the backed-up weights"):
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup))
    (backup / "state.json").write_text('{"format": "skills-training-backup", "epochs')  # a torn write
    with pytest.raises(TrainingError, match="unreadable training backup"):
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup))
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "keep.txt").write_text("mine")
    assert not remove_backup(unrelated) and (unrelated / "keep.txt").exists()  # only ever deletes a backup


def test_remove_backup_removes_the_member_backups_of_a_seed_ensemble(tmp_path):
    """`fit(n_seeds=N, backup_dir=d)` backs each member up into d/member-K; removing d removes them all, and only
    the files a backup writes (a file of the user's in a member folder stays, and so does that folder)."""
    backup = tmp_path / "m.backup"
    for k in (1, 2):
        member = backup / f"member-{k}"
        member.mkdir(parents=True)
        (member / "state.json").write_text("{}")
        (member / "epoch-3.weights.h5").write_bytes(b"w")
    (backup / "member-2" / "notes.txt").write_text("mine")
    assert remove_backup(backup)
    assert not (backup / "member-1").exists() and (backup / "member-2" / "notes.txt").exists()
    assert sorted(p.name for p in (backup / "member-2").iterdir()) == ["notes.txt"]
    assert not remove_backup(backup)  # nothing of a backup left
