"""Seed ensembles (``fit(..., n_seeds=N)``): N networks differing only in their seed, one file, their mean.

Data: ~220 train / 48 val / 48 test real AAPL windows of 20 bars (`small_data`); networks are causal
Attention-LSTMs of 4 units trained one epoch, so the attention and per-step read-outs are exercised too.
"""

import json

import keras
import numpy as np
import pytest

from skills.models import AttentionLSTMModel, LSTMModel, ModelFileError, load_model, read_metadata
from skills.models.ensemble import mean_history, member_config, member_layers, member_networks, n_members
from skills.training import TrainConfig, train

from .conftest import SEQUENCE_LENGTH

SEED = 11
FIT = dict(epochs=1, batch_size=32, verbose=0, seed=SEED)


def _tiny():
    return AttentionLSTMModel(sequence_length=SEQUENCE_LENGTH, lstm_units=4, attention_units=2, bidirectional=False)


@pytest.fixture(scope="module")
def trio(small_data):
    """A 2-seed ensemble and its two members fitted alone, with seeds 11 and 12."""
    ensemble = _tiny().fit(small_data, n_seeds=2, **FIT)
    alone = [_tiny().fit(small_data, **{**FIT, "seed": SEED + k}) for k in range(2)]
    return ensemble, alone


# -- without training --------------------------------------------------------------------------------


def test_member_configs_differ_only_in_their_seed_and_folders(tmp_path):
    config = TrainConfig(seed=5, n_seeds=3, epochs=4, backup_dir=str(tmp_path / "b"))
    members = [member_config(config, k) for k in range(3)]
    assert [m.seed for m in members] == [5, 6, 7] and {m.n_seeds for m in members} == {1}
    assert [m.backup_dir for m in members] == [str(tmp_path / "b" / f"member-{k}") for k in (1, 2, 3)]
    assert all(m.replace(seed=5, backup_dir=config.backup_dir, n_seeds=3) == config for m in members)
    assert member_config(TrainConfig(seed=None, n_seeds=2), 1).seed is None
    one = TrainConfig(seed=5, backup_dir="x")
    assert member_config(one, 0) is one  # one network: its config as it is


def test_mean_history_averages_the_members_still_training_each_epoch():
    histories = [{"loss": [1.0, 0.5, 0.25], "val_loss": [2.0, 1.0, 3.0]}, {"loss": [3.0], "val_loss": [4.0]}]
    assert mean_history(histories) == {"loss": [2.0, 0.5, 0.25], "val_loss": [3.0, 1.0, 3.0]}
    assert mean_history(histories[:1]) is histories[0]


def test_an_ensemble_network_nests_uniquely_named_members_of_the_one_network():
    model = _tiny()
    single = model._build_network(3, [0.0] * 3, [1.0] * 3, sequence_length=4)
    network = model._build_network(3, [0.0] * 3, [1.0] * 3, sequence_length=4, members=2)
    names = [layer.name for layer in network.layers]
    assert names == ["windows", "normalization", "member_1", "member_2", "probs"]
    assert len(set(names)) == len(names) and n_members(network) == 2 and n_members(single) == 1
    for member in names[2:4]:
        inner = network.get_layer(member).layers
        assert inner[0].name == "normalized" and [type(layer) for layer in inner[1:]] == [
            type(layer) for layer in single.layers[2:]]
        assert {layer.name for layer in inner} >= {"lstm_1", "attention", "step_probs", "probs"}
    assert isinstance(network.get_layer("probs"), keras.layers.Average) and network.output.dtype == "float32"
    assert "Lambda" not in json.dumps(network.get_config())
    windows = np.random.default_rng(0).normal(size=(5, 4, 3)).astype("float32")
    probe = keras.Model(network.inputs[0], [*network.get_layer("probs").input, network.output])  # members, mean
    *members, mean = probe.predict(windows, verbose=0)
    assert not np.allclose(members[0], members[1])  # each member draws its own initial weights
    np.testing.assert_allclose(mean, np.mean(members, axis=0), atol=1e-6)


def test_warm_start_needs_as_many_seeds_as_the_model_has_members(quick, tiny_data):
    with pytest.raises(ValueError, match="averages 1 network.*pass n_seeds=1, got 2"):
        quick.fit(tiny_data, warm_start=True, n_seeds=2, epochs=1, verbose=0)


def test_a_single_networks_file_with_a_member_count_does_not_load(quick, tmp_path):
    import h5py

    path = quick.save(tmp_path / "quick.h5")
    with h5py.File(path, "a") as handle:
        meta = json.loads(handle.attrs["skills_metadata"])
        meta["training"]["n_seeds"] = 2
        handle.attrs["skills_metadata"] = json.dumps(meta)
    with pytest.raises(ModelFileError, match="quick.h5: cannot load the network weights"):
        load_model(path)


# -- trained ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_ensemble_is_the_mean_of_its_members_each_trained_as_alone(trio, small_data, aapl):
    ensemble, alone = trio
    for member, single in zip(member_networks(ensemble.network_), alone):
        for mine, theirs in zip(member.get_weights(), single.network_.get_weights(), strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-6)
    proba = ensemble.predict_proba(small_data.test)
    np.testing.assert_allclose(proba, np.mean([m.predict_proba(small_data.test) for m in alone], axis=0), atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    frame = ensemble.predict_frame(aapl.iloc[-200:])
    np.testing.assert_allclose(frame.to_numpy(), np.mean([m.predict_frame(aapl.iloc[-200:]).to_numpy() for m in alone],
                                                         axis=0), atol=1e-6)
    training = ensemble.metadata_["training"]
    assert training["n_seeds"] == 2 and training["seed"] == SEED
    assert training["members"] == [{"seed": SEED + k, "best_epoch": 1, "epochs_run": 1} for k in range(2)]
    assert training["epochs_run"] == 2
    assert ensemble.member_histories_ == [m.history_ for m in alone]
    assert ensemble.history_ == mean_history([m.history_ for m in alone])
    assert ensemble.metadata_["trading"]["n_val"] == len(small_data.val)


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_one_file_holds_the_ensemble_and_loads_under_safe_mode(trio, small_data, tmp_path, suffix):
    ensemble = trio[0]
    X = np.asarray(small_data.test.X)
    path = ensemble.save(tmp_path / f"ensemble{suffix}")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    loaded = load_model(path)
    assert type(loaded) is AttentionLSTMModel and n_members(loaded.network_) == 2
    assert loaded.metadata_ == ensemble.metadata_ == read_metadata(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), ensemble.predict_proba(X))
    plain = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(plain.predict(X, verbose=0)), ensemble.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(loaded.get_attention_weights(X), ensemble.get_attention_weights(X))


@pytest.mark.integration
def test_read_outs_are_the_mean_of_the_members(trio, small_data):
    ensemble, alone = trio
    X = np.asarray(small_data.test.X)
    weights = ensemble.get_attention_weights(X)
    np.testing.assert_allclose(weights, np.mean([m.get_attention_weights(X) for m in alone], axis=0), atol=1e-6)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    every = ensemble.get_attention_weights(X, all_steps=True)
    np.testing.assert_allclose(every, np.mean([m.get_attention_weights(X, all_steps=True) for m in alone], axis=0),
                               atol=1e-6)
    np.testing.assert_allclose(every[:, -1, :], weights, atol=1e-6)
    parts = member_layers(ensemble.network_, "attention")  # each member's own layer, called directly
    assert len(parts) == 2 and parts[0][1] is not parts[1][1]
    each = [keras.ops.convert_to_numpy(layer(encoder(X), return_attention_scores=True)[1]) for encoder, layer in parts]
    np.testing.assert_allclose(np.mean(each, axis=0), every, atol=1e-6)
    steps = ensemble.predict_proba_steps(X)
    np.testing.assert_allclose(steps, np.mean([m.predict_proba_steps(X) for m in alone], axis=0), atol=1e-6)
    np.testing.assert_allclose(steps[:, -1, :], ensemble.predict_proba(X), atol=1e-6)


@pytest.mark.integration
def test_one_seed_is_the_one_network_the_trainer_gives(small_data):
    model = LSTMModel(sequence_length=SEQUENCE_LENGTH, lstm_units=4, num_layers=1).fit(small_data, n_seeds=1, **FIT)
    offset, scale = small_data.scaler.to_dict()["offset"], small_data.scaler.to_dict()["scale"]
    reference = train(lambda: model._build_network(len(small_data.feature_names), offset, scale), small_data.train,
                      small_data.val, TrainConfig(epochs=1, batch_size=32, verbose=0, seed=SEED, precision="float32"))
    X = np.asarray(small_data.test.X)
    np.testing.assert_array_equal(model.predict_proba(X), np.asarray(reference.network.predict(X, verbose=0)))
    assert [layer.name for layer in model.network_.layers] == [layer.name for layer in reference.network.layers]
    assert "members" not in model.metadata_["training"] and model.metadata_["training"]["n_seeds"] == 1
    assert model.member_histories_ == [model.history_]


@pytest.mark.integration
def test_each_member_backs_up_into_its_own_folder_and_resumes_from_it(small_data, tmp_path):
    backup = tmp_path / "run.backup"
    first = _tiny().fit(small_data, n_seeds=2, backup_dir=str(backup), **FIT)
    assert sorted(p.name for p in backup.iterdir()) == ["member-1", "member-2"]
    assert all((backup / f"member-{k}" / "state.json").is_file() for k in (1, 2))
    again = _tiny().fit(small_data, n_seeds=2, backup_dir=str(backup), **FIT)  # both runs are finished: restored
    X = np.asarray(small_data.test.X)
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))


@pytest.mark.integration
def test_warm_start_trains_each_member_further(trio, small_data, tmp_path):
    ensemble = load_model(trio[0].save(tmp_path / "ensemble.keras"))
    before = [w.copy() for w in ensemble.network_.get_weights()]
    ensemble.fit(small_data, warm_start=True, n_seeds=2, **FIT)
    assert n_members(ensemble.network_) == 2 and len(ensemble.member_histories_) == 2
    changed = [not np.array_equal(a, b) for a, b in zip(before, ensemble.network_.get_weights())]
    assert sum(changed) > len(changed) // 2


@pytest.mark.integration
def test_a_gats_ensemble_batches_by_date_and_round_trips(data_dir, tmp_path):
    from skills.data import load_universe, prepare_dataset
    from skills.models import GATsModel

    tickers = ("A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK")
    frames = load_universe(data_dir / "universe", tickers=tickers, on_bad_rows="drop", on_bad_files="skip")
    data = prepare_dataset({t: f.loc["2017-07":] for t, f in frames.items()}, sequence_length=8,
                           features="price_volume", label="cross_section")
    model = GATsModel(sequence_length=8, hidden_size=4, num_layers=1, dropout_rate=0.0)
    model.fit(data, n_seeds=2, epochs=1, verbose=0, seed=SEED)
    proba = model.predict_proba(data.test)
    members = [model._run(m, data.test.X, dates=data.test.dates, tickers=data.test.tickers)
               for m in member_networks(model.network_)]
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(proba, np.mean(members, axis=0), atol=1e-6)
    loaded = load_model(model.save(tmp_path / "gats.h5"))
    np.testing.assert_array_equal(loaded.predict_proba(data.test), proba)
    # the graph attention of the ensemble is the mean of its members' (each a GATs alone on the same file's layers)
    attention = model.get_graph_attention(data.test)
    day = data.test.dates[0]
    each = []
    for k in (1, 2):
        alone = GATsModel(sequence_length=8, hidden_size=4, num_layers=1, dropout_rate=0.0)
        alone.fit(data, epochs=1, verbose=0, seed=SEED + k - 1)
        each.append(alone.get_graph_attention(data.test)[day])
    assert not np.allclose(each[0], each[1])
    np.testing.assert_allclose(attention[day], np.mean(each, axis=0), atol=1e-5)
    np.testing.assert_allclose(loaded.get_graph_attention(data.test)[day], attention[day], atol=1e-6)
