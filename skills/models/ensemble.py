"""Seed ensembles: N networks that differ only in their seed, as one Keras model that averages their probabilities.

``model.fit(data, n_seeds=N)`` trains N networks through the one trainer (`skills.training.train`), each exactly
as a fit with seed ``seed``, ``seed + 1``, ... would train it alone (its own shuffling, dropout, initial weights and
early stopping on the validation split), then assembles one ``keras.Model``::

    windows -> normalization -> member_1 ... member_N -> probs (keras.layers.Average, float32)

Each ``member_k`` is a nested functional model holding one trained network's layers (after the shared
`Normalization`), under the names that network has alone. The model holds only registered Keras layers (no
``Lambda``, nothing pickled), so it saves as one ``.keras`` or ``.h5`` file, loads under ``safe_mode=True``, and
every prediction path (`predict_proba`, `predict_frame`, `predict_universe`, backtests) reads it as any network.
With ``n_seeds=1`` nothing of this applies: the model is the one network, exactly as without ensembles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from skills.training import precision_scope, train

__all__ = ["MEMBER_PREFIX", "Fitted", "average_of_members", "fit_members", "mean_history", "member_config",
           "member_layers", "member_networks", "n_members", "readout"]

log = logging.getLogger(__name__)

#: The members of an ensemble network are its nested models ``member_1``, ``member_2``, ...
MEMBER_PREFIX = "member_"
_NORMALIZATION = "normalization"


def average_of_members(network_fn, x, n: int):
    """The ``(batch, 3)`` output of ``n`` members built by ``network_fn`` on the normalised windows ``x``.

    ``n == 1``: ``network_fn(x)`` itself (one network, no nesting). Otherwise member ``k`` is
    ``keras.Model(Input(like x), network_fn(that input), name="member_k")`` called on ``x``, and the output is
    their `keras.layers.Average` (float32, named ``probs``).
    """
    if n == 1:
        return network_fn(x)
    outputs = []
    for index in range(n):
        inner = keras.Input(tuple(x.shape[1:]), name="normalized")
        outputs.append(keras.Model(inner, network_fn(inner), name=f"{MEMBER_PREFIX}{index + 1}")(x))
    return keras.layers.Average(dtype="float32", name="probs")(outputs)


def _members(network) -> list:
    """The nested member models of an ensemble network, in order; ``[]`` for a single network."""
    return [layer for layer in network.layers
            if isinstance(layer, keras.Model) and layer.name.startswith(MEMBER_PREFIX)]


def n_members(network) -> int:
    """How many networks ``network`` averages (1 for a single network)."""
    return len(_members(network)) or 1


def _standalone(network, index: int) -> keras.Model:
    """Member ``index`` (0-based) as its own network: windows -> the shared normalization -> its layers.

    It shares its layers (and so its weights) with ``network``; a single network is returned as it is.
    """
    members = _members(network)
    if not members:
        return network
    normalized = network.get_layer(_NORMALIZATION).output
    return keras.Model(network.inputs[0], members[index](normalized), name=members[index].name)


def member_networks(network) -> list:
    """Each member of an ensemble network as a ``keras.Model`` from the raw windows to its ``(n, 3)`` probabilities.

    The members share their weights with ``network`` (nothing is copied); ``[network]`` for a single network.
    """
    return [_standalone(network, index) for index in range(n_members(network))]


def readout(network, pick) -> keras.Model:
    """A model from ``network``'s windows to the mean over its members of ``pick(member)``.

    ``pick`` gets a network (a single network, or one member model whose input is the normalised windows)
    and returns a tensor of its graph, e.g. an attention layer's weights. For a single network the read-out
    is ``keras.Model(network.inputs, pick(network))``; for an ensemble each member's tensor is read on the
    shared normalised windows and the member values are averaged (`keras.layers.Average`, float32).
    """
    members = _members(network)
    if not members:
        return keras.Model(network.inputs, pick(network))
    normalized = network.get_layer(_NORMALIZATION).output
    values = [keras.Model(member.inputs, pick(member))(normalized) for member in members]
    return keras.Model(network.inputs[0], keras.layers.Average(dtype="float32", name="member_mean")(values))


def member_layers(network, name: str) -> list:
    """For each member (or the one network): ``(encoder, layer)``, its layer called ``name`` and a model from the
    raw windows to that layer's input, so a caller can call the layer itself (e.g. with
    ``return_attention_scores=True``) and average what the members give.

    Raises:
        ValueError: a member without a layer called ``name``.
    """
    members = _members(network)
    if not members:
        layer = network.get_layer(name)
        return [(keras.Model(network.inputs[0], layer.input), layer)]
    normalized = network.get_layer(_NORMALIZATION).output
    found = []
    for member in members:
        layer = member.get_layer(name)
        found.append((keras.Model(network.inputs[0], keras.Model(member.inputs, layer.input)(normalized)), layer))
    return found


def member_config(config, index: int):
    """The `TrainConfig` member ``index`` (0-based) of ``config.n_seeds`` trains with.

    One member is trained as a fit with ``n_seeds=1`` and seed ``config.seed + index`` would be (None stays
    None). An ensemble's backups and TensorBoard logs go into a ``member-K`` folder of each member inside
    ``backup_dir`` / ``tensorboard_dir``, so each member's run resumes from its own backup.
    """
    if config.n_seeds == 1:
        return config
    seed = None if config.seed is None else int(config.seed) + index
    inside = {name: str(Path(getattr(config, name)) / f"member-{index + 1}")
              for name in ("backup_dir", "tensorboard_dir") if getattr(config, name)}
    return config.replace(n_seeds=1, seed=seed, **inside)


def mean_history(histories: list) -> dict:
    """Per-epoch means over members: ``{metric: [value of epoch 1, ...]}`` as one run's history.

    Epoch e's value is the mean over the members that ran at least e epochs (each stops early on its own),
    so the curves are as long as the longest member's; one member's history is returned as it is.
    """
    if len(histories) == 1:
        return histories[0]
    keys = list(dict.fromkeys(key for history in histories for key in history))
    out = {}
    for key in keys:
        runs = [history[key] for history in histories if key in history]
        out[key] = [float(np.mean([run[epoch] for run in runs if len(run) > epoch]))
                    for epoch in range(max(len(run) for run in runs))]
    return out


@dataclass
class Fitted:
    """What `fit_members` returns.

    Attributes:
        network: the ``keras.Model``: the one network, or the ensemble averaging the members.
        precision: str, the dtype policy trained under.
        history: dict, `mean_history` of the members (one network's history when there is one).
        member_histories: list of each member's history, in member order.
        epochs_run: int, the epochs trained by all members together.
        members: list of ``{"seed", "best_epoch", "epochs_run"}`` per member, or None for one network.
    """

    network: keras.Model
    precision: str
    history: dict
    member_histories: list
    epochs_run: int
    members: list | None


def fit_members(build, assemble, train_data, validation, config, callbacks=None, warm_network=None) -> Fitted:
    """Train ``config.n_seeds`` networks through `skills.training.train` and make them one network.

    Args:
        build: callable with no arguments returning one fresh network (windows in, probabilities out).
        assemble: callable with no arguments returning the empty ensemble network with ``config.n_seeds``
            members (`average_of_members`); called under the trained precision, then given the members'
            weights layer by layer. Unused for one network.
        train_data, validation, callbacks: as for `skills.training.train`.
        config: `TrainConfig` with a resolved precision; member k trains with `member_config`.
        warm_network: a fitted network to continue (warm start) instead of building: each of its members
            is trained further in place. It must have ``config.n_seeds`` members.

    Raises:
        ValueError: a warm start with another number of members than ``config.n_seeds``.
    """
    n = int(config.n_seeds)
    if warm_network is not None and n_members(warm_network) != n:
        raise ValueError(f"warm_start continues each member of the fitted model, which averages "
                         f"{n_members(warm_network)} network(s): pass n_seeds={n_members(warm_network)}, got {n}")
    results = []
    for index in range(n):
        member = member_config(config, index)
        if n > 1:
            log.info("seed ensemble: training member %d of %d (seed %s)", index + 1, n, member.seed)
        make = build if warm_network is None else (lambda index=index: _standalone(warm_network, index))
        results.append(train(make, train_data, validation, member, callbacks=callbacks))
    histories = [{k: [float(v) for v in values] for k, values in r.history.history.items()} for r in results]
    epochs_run = sum(r.epochs_run for r in results)
    if n == 1:
        network = results[0].network if warm_network is None else warm_network
        return Fitted(network, results[0].precision, histories[0], histories, epochs_run, None)
    members = [{"seed": member_config(config, index).seed, "best_epoch": int(r.best_epoch),
                "epochs_run": int(r.epochs_run)} for index, r in enumerate(results)]
    network = warm_network
    if network is None:
        with precision_scope(results[0].precision):
            network = assemble()
        _copy_weights(network, [r.network for r in results])
    return Fitted(network, results[0].precision, mean_history(histories), histories, epochs_run, members)


def _copy_weights(ensemble, networks) -> None:
    """Give each member of ``ensemble`` the weights of its trained network, layer by layer.

    Both are built by the same function, so a member's layers after its input are the trained network's after
    its input and normalization, in the same order (Keras numbers unnamed layers anew, so names may differ).
    """
    ensemble.get_layer(_NORMALIZATION).set_weights(networks[0].get_layer(_NORMALIZATION).get_weights())
    for member, trained in zip(_members(ensemble), networks):
        ours, theirs = member.layers[1:], trained.layers[2:]
        if [type(layer) for layer in ours] != [type(layer) for layer in theirs]:
            raise RuntimeError(f"{member.name} is not built as its trained network: {[l.name for l in ours]} vs "
                               f"{[l.name for l in theirs]}")
        for layer, source in zip(ours, theirs):
            layer.set_weights(source.get_weights())
