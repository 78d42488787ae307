"""Search spaces: one per architecture, in the models' own parameter names, written as plain JSON-able specs and
turned into Ray Tune domains.

A spec maps a hyperparameter to one of::

    {"choice": [32, 64, 128]}          one of the values
    {"uniform": [0.0, 0.5]}            a float between the bounds
    {"loguniform": [1e-4, 3e-3]}       a float, uniform in log space
    {"randint": [1, 3]}                an integer, both bounds included
    64                                 a fixed value (not searched)

`search_space(model, overrides)` is the architecture's default space with ``overrides`` (e.g. from
`load_space`, a JSON or YAML file) replacing the entries they name; ``null`` removes an entry (the flag's
value, or the architecture's default, is used instead).
"""

from __future__ import annotations

import json
from pathlib import Path

from skills.data import DataError
from skills.models import make_model, model_params
from skills.training import TrainConfig

__all__ = ["DEFAULT_SPACES", "TRAINING_KEYS", "KINDS", "default_point", "tunable_keys", "search_space", "load_space",
           "to_ray"]

#: Training options a space may search (each is a `skills.training.TrainConfig` field and a CLI flag).
TRAINING_KEYS = ("learning_rate", "batch_size", "optimizer", "lr_schedule", "clipnorm", "class_weight", "patience")
#: The kinds of a spec entry.
KINDS = ("choice", "uniform", "loguniform", "randint")
# model parameters that are not searched: fixed by the architecture's name, or a file to start from
_NOT_TUNABLE = ("bidirectional", "pretrained")

_COMMON = {"learning_rate": {"loguniform": [1e-4, 3e-3]}, "batch_size": {"choice": [32, 64, 128]},
           "sequence_length": {"choice": [10, 20, 30, 60]}}
_RECURRENT = {"hidden_size": {"choice": [16, 32, 64, 128]}, "num_layers": {"randint": [1, 3]},
              "dropout_rate": {"uniform": [0.0, 0.5]}}
#: The default space of each architecture: window length, batch size and learning rate, plus its own
#: width, depth and dropout (transformer widths are multiples of every head count offered).
DEFAULT_SPACES = {
    "attention_lstm": {**_COMMON, "lstm_units": {"choice": [32, 64, 128]}, "attention_units": {"choice": [16, 32, 64]},
                       "dropout_rate": {"uniform": [0.0, 0.5]}},
    "lstm": {**_COMMON, "lstm_units": {"choice": [16, 32, 64, 128]}, "num_layers": {"randint": [1, 3]},
             "dropout_rate": {"uniform": [0.0, 0.5]}},
    "transformer": {**_COMMON, "d_model": {"choice": [32, 64, 128]}, "num_heads": {"choice": [2, 4]},
                    "num_layers": {"randint": [1, 3]}, "dropout_rate": {"uniform": [0.0, 0.3]}},
    "gru": {**_COMMON, **_RECURRENT},
    "alstm": {**_COMMON, **_RECURRENT, "rnn_type": {"choice": ["gru", "lstm"]}},
    "tcn": {**_COMMON, "channels": {"choice": [32, 64, 128]}, "kernel_size": {"choice": [2, 3, 5]},
            "num_layers": {"randint": [2, 5]}, "dropout_rate": {"uniform": [0.0, 0.5]}},
    "localformer": {**_COMMON, "d_model": {"choice": [32, 64]}, "num_heads": {"choice": [2, 4]},
                    "num_layers": {"randint": [1, 3]}, "ff_dim": {"choice": [128, 512, 2048]},
                    "dropout_rate": {"uniform": [0.0, 0.3]}},
    "krnn": {**_COMMON, "hidden_size": {"choice": [8, 16, 32]}, "cnn_filters": {"choice": [8, 16, 32]},
             "num_branches": {"randint": [1, 3]}, "num_layers": {"randint": [1, 2]},
             "dropout_rate": {"uniform": [0.0, 0.5]}},
    "gats": {**_COMMON, "hidden_size": {"choice": [32, 64]}, "num_layers": {"randint": [1, 2]},
             "dropout_rate": {"uniform": [0.0, 0.7]}, "base_model": {"choice": ["gru", "lstm"]}},
}
DEFAULT_SPACES["causal_attention_lstm"] = DEFAULT_SPACES["attention_lstm"]


def tunable_keys(model: str) -> list[str]:
    """The names a space for ``model`` may hold: its constructor parameters and `TRAINING_KEYS`."""
    params = [name for name in model_params(model) if name not in _NOT_TUNABLE]
    return sorted(params) + list(TRAINING_KEYS)


def _check_entry(key: str, spec, where: str) -> None:
    if not isinstance(spec, dict):
        if isinstance(spec, (list, tuple)):
            raise DataError(f"{where}: {key}: give {{\"choice\": [...]}} for a list of values, got {spec!r}")
        return  # a fixed value; the model or the trainer checks it
    if len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise DataError(f"{where}: {key}: expected one of {', '.join(KINDS)} (e.g. {{\"choice\": [32, 64]}}), "
                        f"got {spec!r}")
    (kind, values), = spec.items()
    if not isinstance(values, (list, tuple)) or not values:
        raise DataError(f"{where}: {key}: {kind} needs a list, got {values!r}")
    if kind == "choice":
        return
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) \
            or not values[0] < values[1]:
        raise DataError(f"{where}: {key}: {kind} needs [low, high] numbers with low < high, got {values!r}")
    if kind == "loguniform" and values[0] <= 0:
        raise DataError(f"{where}: {key}: loguniform needs low > 0, got {values!r}")
    if kind == "randint" and not all(isinstance(v, int) for v in values):
        raise DataError(f"{where}: {key}: randint needs integer bounds, got {values!r}")


def search_space(model: str, overrides: dict | None = None, *, where: str = "space") -> dict:
    """The default space of ``model`` with ``overrides`` applied (an entry set to None is removed).

    Raises:
        ValueError: an unknown architecture.
        DataError: a name the architecture and trainer do not take, or a malformed entry (named with ``where``).
    """
    if model not in DEFAULT_SPACES:
        model_params(model)  # raises the package's "unknown model" error
    space = dict(DEFAULT_SPACES[model])
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(tunable_keys(model)))
    if unknown:
        raise DataError(f"{where}: {', '.join(unknown)}: not a parameter of {model} nor a training option; "
                        f"known: {', '.join(tunable_keys(model))}")
    for key, spec in overrides.items():
        if spec is None:
            space.pop(key, None)
        else:
            _check_entry(key, spec, where)
            space[key] = spec
    return space


def load_space(path) -> dict:
    """The entries of a JSON (``.json``) or YAML (``.yaml``, ``.yml``) space file, unchecked (see `search_space`).

    Raises:
        DataError: a missing or unreadable file, or one that does not hold a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such space file")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            entries = yaml.safe_load(text)
        else:
            entries = json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: "
                        f"{detail}") from None
    if not isinstance(entries, dict):
        raise DataError(f"{path}: expected a mapping of hyperparameter -> spec, got {type(entries).__name__}")
    return entries


def to_ray(space: dict) -> dict:
    """The Ray Tune param space of a checked space: `tune.choice`, `uniform`, `loguniform`, `randint`."""
    from ray import tune

    domains = {}
    for key, spec in space.items():
        if not isinstance(spec, dict):
            domains[key] = spec
            continue
        (kind, values), = spec.items()
        if kind == "choice":
            domains[key] = tune.choice(list(values))
        elif kind == "randint":
            domains[key] = tune.randint(values[0], values[1] + 1)  # Ray's upper bound is exclusive
        else:
            domains[key] = getattr(tune, kind)(*values)
    return domains


def _inside(spec, value) -> bool:
    if not isinstance(spec, dict):
        return True
    (kind, values), = spec.items()
    if kind == "choice":
        return value in values
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind == "randint" and value != int(value):
        return False
    return values[0] <= value <= values[1]


def default_point(model: str, space: dict, fit: dict | None = None, sequence_length: int = 30) -> tuple[dict | None,
                                                                                                       list[str]]:
    """The configuration ``train`` fits with the same fixed options, as a point of ``space``.

    Each searched name takes the value ``train`` would use: ``fit``'s option, else `TrainConfig`'s default for a
    training option, ``sequence_length``, or the architecture's default parameter. Returns ``(point, outside)``:
    the point, or None with the names whose default lies outside the space (such a point cannot be a trial).
    """
    training = {name: getattr(TrainConfig(), name) for name in TRAINING_KEYS}
    given = {k: v for k, v in (fit or {}).items() if k in TRAINING_KEYS and v is not None}  # None: the default
    defaults = {**training, **model_params(model), **given, "sequence_length": int(sequence_length)}
    if defaults["learning_rate"] is None:  # the architecture's own rate
        defaults["learning_rate"] = make_model(model).default_learning_rate
    point = {key: defaults[key] for key, spec in space.items() if isinstance(spec, dict) and key in defaults}
    if point.get("class_weight", "") is None and "none" in space["class_weight"].get("choice", ()):
        point["class_weight"] = "none"  # the command line's spelling of no weighting
    outside = [key for key, value in point.items() if not _inside(space[key], value)]
    return (None, outside) if outside else (point, [])
