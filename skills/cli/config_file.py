"""``--config FILE`` of ``train`` and ``compare``: a JSON or YAML mapping of flag names (``learning_rate``,
``lstm_units``, ``model``, ...; dashes or underscores; an old spelling too) to values, such as the
``best_config.json`` that ``tune`` writes. The file's values become the command's defaults, so a flag given on the
command line wins. A key the command does not take, or a value its flag refuses, stops the command with one line
(exit 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from skills.cli.flags import OLD_SPELLINGS

#: Keys that are never flags of a file.
_NOT_SETTABLE = ("command", "config", "debug", "help")
#: A key of one command that another command spells differently: command -> {key: dest}.
_RENAMED = {"compare": {"model": "models"}}
#: The old spellings of `OLD_SPELLINGS` as keys: old key -> the key it now is.
_OLD_KEYS = {old[2:].replace("-", "_"): new[2:].replace("-", "_") for old, new in OLD_SPELLINGS.items()}


def read_config(path) -> dict:
    """The mapping in a ``.json``, ``.yaml`` or ``.yml`` file.

    Raises:
        ValueError: a missing or unreadable file, or one that does not hold a mapping (one line).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    try:
        if yaml_file:
            import yaml

            entries = yaml.safe_load(path.read_text())
        else:
            entries = json.loads(path.read_text())
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"--config {path}: not valid {'YAML' if yaml_file else 'JSON'}: {detail}") from None
    if not isinstance(entries, dict):
        raise ValueError(f"--config {path}: expected a mapping of flag name -> value, got {type(entries).__name__}")
    return entries


def _checked(action, key: str, value, path):
    """``value`` as the flag of ``action`` would parse it; ValueError naming the key when the flag refuses it."""
    if value is None:
        return None
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ValueError(f"--config {path}: {key} must be true or false, got {value!r}")
        return value
    if action.type is not None:
        try:
            value = action.type(str(value))
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise ValueError(f"--config {path}: {key}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"--config {path}: {key} must be one of {', '.join(map(str, action.choices))}, "
                         f"got {value!r}")
    return value


def config_defaults(command: str, subparser: argparse.ArgumentParser, path) -> dict:
    """The entries of ``path`` as defaults of ``subparser``'s flags (dest -> parsed value).

    Raises:
        ValueError: an unreadable file, a key ``command`` does not take, or a value its flag refuses (one line).
    """
    entries = read_config(path)
    renamed = _RENAMED.get(command, {})
    actions = {}
    for action in subparser._actions:
        if action.dest not in _NOT_SETTABLE and action.dest is not argparse.SUPPRESS:
            actions.setdefault(action.dest, action)
    defaults, unknown = {}, []
    for key, value in entries.items():
        dest = str(key).replace("-", "_")
        dest = renamed.get(dest, dest)
        if dest not in actions and _OLD_KEYS.get(dest) in actions:
            dest = _OLD_KEYS[dest]
        if dest not in actions:
            unknown.append(str(key))
            continue
        defaults[dest] = _checked(actions[dest], str(key), value, path)
    if unknown:
        raise ValueError(f"--config {path}: unknown key(s) {', '.join(unknown)} for {command} (it takes: "
                         f"{', '.join(sorted(set(actions) | set(renamed)))})")
    return defaults
