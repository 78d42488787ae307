"""`train`: load bars, prepare the windows, fit a model, score it beside the baselines on the test split, and write
the model with its report and plots together: what ``python -m skills train`` does, as one call."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from skills._atomic import write_together
from skills._lock import exclusive_lock
from skills.data import DataError, PreparedData, prepare_dataset
from skills.data.dataset import as_frames
from skills.evaluation import score_on_test, training_report
from skills.evaluation.tables import format_confusion, format_table
from skills.models import MODEL_NAMES, load_model, model_params
from skills.pipeline.loading import OptionError, load_bars, load_records, new_model, write_json
from skills.pipeline.tracked import log_train
from skills.plots import plot_confusion_matrix, plot_training_curves, save_figure
from skills.strategy import DEFAULT_REBALANCE, default_strategy, topk_defaults
from skills.tracking import optional_run
from skills.training import TrainConfig, gpu_available, precision_reason, remove_backup, resolve_precision

__all__ = ["DEFAULT_MODEL", "DEFAULT_MODEL_PATH", "TrainResult", "check_model_path", "prepare", "route_options",
           "train"]

log = logging.getLogger("skills")

#: The architecture `train` fits unless told otherwise: the Attention-LSTM of the main job.
DEFAULT_MODEL = MODEL_NAMES[0]
#: Where `train` writes the model (relative to the working folder) unless told otherwise.
DEFAULT_MODEL_PATH = Path("models") / "attention_lstm.h5"
_MODEL_SUFFIXES = (".h5", ".keras")
# the trainer's options `train` sets itself (the backup beside the model file) or takes as named arguments
_MANAGED = ("backup_dir", "tensorboard_dir", "verbose")


def route_options(options: dict, prepare_function=prepare_dataset, caller: str = "train"):
    """Split keyword ``options`` into (network hyperparameters, data options, trainer options).

    Network hyperparameters are those of any architecture (`skills.models.model_params`), data options the
    parameters of ``prepare_function`` (``sequence_length`` too goes to the model), trainer options the fields
    of `TrainConfig`.

    Raises:
        TypeError: a name that is none of them.
    """
    network_names = set().union(*(model_params(name) for name in MODEL_NAMES)) - {"sequence_length"}
    data_names = set(inspect.signature(prepare_function).parameters) - {"data"}
    fit_names = {f.name for f in dataclasses.fields(TrainConfig)} - set(_MANAGED)
    unknown = sorted(set(options) - network_names - data_names - fit_names)
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword argument(s): {', '.join(unknown)}")
    pick = lambda names: {k: v for k, v in options.items() if k in names}  # noqa: E731
    return pick(network_names), pick(data_names), pick(fit_names)


def _sequence_length(data_options: dict, prepare_function=prepare_dataset) -> int:
    default = inspect.signature(prepare_function).parameters["sequence_length"].default
    return data_options.get("sequence_length", default)


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """The validation and test shares of the dates leave at least a tenth of them for training.

    Raises:
        OptionError: naming both fractions.
    """
    if val_fraction + test_fraction >= 0.9:
        raise OptionError(f"{{val_fraction}} + {{test_fraction}} must leave room for training, got {val_fraction} + "
                          f"{test_fraction}", "val_fraction", "test_fraction")


def prepare(data=None, *, on_bad_rows=None, on_bad_files=None, **options) -> PreparedData:
    """The windows `prepare_dataset` makes of ``data`` (a path as `load_bars` reads it, or bars), with the
    fractions checked to leave room for training (``python -m skills data``).

    Raises:
        OptionError: a data option that cannot work (an unknown feature, cross-sectional options on one ticker,
            fractions leaving no training rows, ...).
        DataError: bad or too short data.
    """
    defaults = inspect.signature(prepare_dataset).parameters
    check_fractions(*(options.get(name, defaults[name].default) for name in ("val_fraction", "test_fraction")))
    bars = load_bars(data, on_bad_rows, on_bad_files)
    try:
        return prepare_dataset(bars, **options)
    except DataError:
        raise
    except ValueError as exc:  # a feature name it does not know, cross-sectional options on one ticker, ...
        raise OptionError(str(exc)) from None


@dataclass
class TrainResult:
    """What `train` did: the fitted model, the data, the test-split figures beside the baselines, the report
    written beside the model, the files and the timings. `format` is the text ``python -m skills train``
    prints."""

    model: object
    data: PreparedData
    name: str
    results: dict
    report: dict
    files: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    precision: str = "float32"
    topk: dict | None = None
    n_tickers: int = 1
    load_report: list | None = None

    @property
    def epochs_run(self) -> int:
        """Epochs trained (summed over the members of a seed ensemble)."""
        return int(self.model.metadata_["training"]["epochs_run"])

    def table(self) -> str:
        """The model beside its baselines on the test split (`format_table`)."""
        return format_table(self.results)

    def confusion(self) -> str:
        """The model's confusion matrix on the test split (rows true, columns predicted)."""
        return format_confusion(self.results[self.name]["confusion_matrix"])

    def format(self) -> str:
        """The test split, the table, the confusion matrix and the files written, as the command prints them."""
        test = self.data.test
        lines = [f"\nTest split: {len(test)} windows, {test.dates.min().date()} .. {test.dates.max().date()} "
                 f"({_tickers(self.data.tickers)}); {self.epochs_run} epochs in {self.timings['train_s']:.0f} s, "
                 f"precision {self.precision}"]
        rule = self.data.label_rule
        lines.append(f"labels: {rule.method}, horizon {rule.horizon}, on {rule.basis.replace('_', '-')} returns "
                     f"(the IC too)")
        if self.topk is not None:
            lines.append(f"on the test split's {self.n_tickers} tickers: IC of P(up) - P(down) per date across the "
                         f"tickers (mean over dates); top-k: k {self.topk['k']}, n_drop {self.topk['n_drop']}, "
                         f"rebalance every {self.topk['rebalance']} bars, excess over the equal-weight universe")
        lines += [self.table(), f"\nconfusion matrix of {self.name} (rows true, columns predicted):",
                  self.confusion(), f"\nwrote {', '.join(str(path) for path in self.files.values())}"]
        return "\n".join(lines)


def train(data=None, *, model: str = DEFAULT_MODEL, model_path=DEFAULT_MODEL_PATH, resume: bool = False,
          on_bad_rows=None, on_bad_files=None, tensorboard_dir=None, verbose: int = 0, settings=None,
          tracking=None, **options) -> TrainResult:
    """Train a model and write it beside its report and plots, as ``python -m skills train`` does.

    Loads ``data`` (`load_bars`), prepares leak-free windows (`prepare_dataset`), fits ``model`` on the training
    split with early stopping on the validation split, scores it beside the baselines on the test split
    (`score_on_test`; on a universe traded by top-k, also its top-k portfolio with `topk_defaults` and
    `DEFAULT_REBALANCE`), then writes ``model_path``, ``<stem>.report.json``, ``<stem>.curves.png`` and
    ``<stem>.confusion.png`` together (all or none). ``model_path`` is locked for the whole run: a second run
    writing the same file stops at once. After every epoch the run is backed up in ``<stem>.backup``; a run
    killed before it finished resumes from there when it is started again, and the backup goes once the files
    are written.

    Args:
        data: a path (one ticker's CSV, a folder, a long-format file) or bars; None: the bundled real data.
        model: the architecture, one of `skills.models.MODEL_NAMES`.
        model_path: the ``.h5`` or ``.keras`` file to write.
        resume: continue training the model already at ``model_path`` (same architecture and window length),
            or a killed run's backup when there is no model file yet.
        on_bad_rows, on_bad_files: the loading policies of `load_bars`.
        tensorboard_dir: write TensorBoard logs there (TensorFlow backend).
        verbose: Keras progress bars (0 silent, 1 bar, 2 a line per epoch).
        settings: recorded as the report's ``flags`` (the command line records its flags); default: this call's
            arguments.
        tracking: a `skills.tracking.Tracking`: log the run into MLflow (`log_train`: params, every epoch's
            figures, the test figures beside the baselines', the files written); it connects before anything
            else, and a run that fails is marked FAILED. None: no tracking.
        **options: the network's hyperparameters (``lstm_units``, ``dropout_rate``, ...; `model_params`), the
            data options of `prepare_dataset` (``sequence_length``, ``horizon``, ``label``, ``features``,
            ``val_fraction``, ...) and the trainer's options of `TrainConfig` (``epochs``, ``batch_size``,
            ``learning_rate``, ``seed``, ...); each left out keeps the default of the function that uses it.

    Returns:
        TrainResult.

    Raises:
        OptionError: an argument value that cannot work (named in the message).
        DataError: bad data; ModelFileError: a bad model file to resume; TrainingError: the loss became NaN, or
            the backup at ``<stem>.backup`` is another run's; LockedError: another run writes ``model_path``.
        TrackingError: ``tracking`` cannot reach its store.
        TypeError: an unknown keyword argument.
    """
    network, data_options, fit = route_options(options)
    if settings is None:
        settings = dict(data=data if data is None or isinstance(data, (str, Path)) else type(data).__name__,
                        model=model, model_path=model_path, resume=resume, **options)
    model_path = check_model_path(model_path)
    if tracking is not None:
        tracking.check()
    with exclusive_lock(model_path, "model file"), optional_run(tracking, f"train {model}") as run:
        result = _train(data, model, model_path, resume, network, data_options, fit,
                        dict(on_bad_rows=on_bad_rows, on_bad_files=on_bad_files, tensorboard_dir=tensorboard_dir,
                             verbose=verbose, settings=settings), run)
        if run is not None:
            log_train(run, result)
        return result


def _train(data, name, model_path, resume, network, data_options, fit, extra, run=None) -> TrainResult:
    stem = model_path.with_suffix("")
    files = {"model": model_path, "report": Path(f"{stem}.report.json"), "curves": Path(f"{stem}.curves.png"),
             "confusion": Path(f"{stem}.confusion.png")}
    backup_dir = Path(f"{stem}.backup")  # per-epoch backup: a killed run resumes from it when rerun
    config = _config(fit)
    sequence_length = _sequence_length(data_options)

    started = time.perf_counter()
    killed_fresh_run = resume and not model_path.exists() and backup_dir.is_dir()
    model = (_resumed_model(name, model_path, sequence_length, network) if resume and not killed_fresh_run
             else new_model(name, sequence_length, **network))
    bars = load_bars(data, extra["on_bad_rows"], extra["on_bad_files"])
    prepared_data = prepare(bars, **data_options)
    prepared = time.perf_counter()
    for line in prepared_data.summary().splitlines():
        log.info(line)
    precision = _log_precision(config.precision, type(model).__name__)
    model.fit(prepared_data, **fit, tensorboard_dir=extra["tensorboard_dir"], backup_dir=str(backup_dir),
              verbose=extra["verbose"], callbacks=None if run is None else [run.callback()],
              **({"warm_start": True} if resume else {}))
    trained = time.perf_counter()

    frames = as_frames(bars)
    topk = None
    if default_strategy(len(frames), prepared_data.label_rule.method) == "topk":
        topk = dict(zip(("k", "n_drop"), topk_defaults(len(frames))), rebalance=DEFAULT_REBALANCE)
    results = score_on_test(model, prepared_data, name=name, seed=config.seed, bars=frames, topk_options=topk)
    scored = time.perf_counter()
    epochs_run = int(model.metadata_["training"]["epochs_run"])  # a seed ensemble: all its members' epochs
    timings = {"prepare_s": round(prepared - started, 2), "train_s": round(trained - prepared, 2),
               "score_test_s": round(scored - trained, 2), "total_s": round(scored - started, 2),
               "epochs_run": epochs_run,
               "train_windows_per_s": round(len(prepared_data.train) * epochs_run / max(trained - prepared, 1e-9),
                                            1)}
    written = {key: files[key] for key in ("model", "curves", "confusion")}
    report = training_report(model, prepared_data, results, name=name, settings=extra["settings"],
                             timings=timings, files=written)
    records = load_records(bars)
    if records is not None:  # every row dropped and file skipped while loading the universe
        report["data"]["load_report"] = records
    if topk is not None:
        report["data"]["topk"] = topk
    confusion = results[name]["confusion_matrix"]
    write_together({
        model_path: model.save,
        files["curves"]: lambda tmp: save_figure(plot_training_curves(model.history_), tmp),
        files["confusion"]: lambda tmp: save_figure(plot_confusion_matrix(confusion), tmp),
        files["report"]: lambda tmp: write_json(tmp, report),
    })
    remove_backup(backup_dir)  # the finished run is saved: its backup has done its job
    return TrainResult(model=model, data=prepared_data, name=name, results=results, report=report,
                       files={key: files[key] for key in ("model", "report", "curves", "confusion")},
                       timings=timings, precision=precision, topk=topk, n_tickers=len(frames), load_report=records)


def check_model_path(model_path) -> Path:
    """``model_path`` as a Path, if it names a file `train` can write (``.h5`` or ``.keras``).

    Raises:
        OptionError: another suffix.
    """
    model_path = Path(model_path)
    if model_path.suffix not in _MODEL_SUFFIXES:
        raise OptionError(f"{{model_path}} must end in .h5 or .keras, got {model_path}", "model_path")
    return model_path


def _config(fit: dict) -> TrainConfig:
    try:
        return TrainConfig(**fit)
    except ValueError as exc:
        raise OptionError(str(exc)) from None


def _resumed_model(name: str, path: Path, sequence_length: int, network: dict):
    """The model at ``path`` to continue training, if it is the architecture and window length asked for."""
    if not path.exists():
        raise OptionError(f"{{resume}}: no model at {path} to continue from", "resume")
    model = load_model(path)
    expected = new_model(name, sequence_length, **network)
    if type(model) is not type(expected) or getattr(model, "bidirectional", None) != getattr(
            expected, "bidirectional", None):
        raise OptionError(f"{{resume}}: {path} holds a {type(model).__name__}, not a {{model}} {name}",
                          "resume", "model")
    if model.sequence_length != sequence_length:
        raise OptionError(f"{{resume}}: {path} uses {{sequence_length}} {model.sequence_length}, not "
                          f"{sequence_length}", "resume", "sequence_length")
    return model


def _log_precision(requested: str, network: str) -> str:
    precision = resolve_precision(requested, network)
    if requested == "auto":
        log.info("precision auto -> %s (%s)", precision, precision_reason(requested, network))
    elif precision != "float32" and not gpu_available():
        log.warning("note: %s on a CPU is usually no faster than float32; the file loads under float32", precision)
    return precision


def _tickers(names, most: int = 12) -> str:
    """The tickers, or their count and the first few when there are many."""
    names = list(names)
    return ", ".join(names) if len(names) <= most else f"{len(names)} tickers: {', '.join(names[:5])}, ..."
