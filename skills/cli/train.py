"""``skills data`` and ``skills train``: the flags turned into `skills.pipeline.prepare` / `skills.pipeline.train`
arguments, and what those calls return printed."""

from __future__ import annotations

import sys

from skills import pipeline
from skills.cli.loading import flag_errors, load_bars, resolve_features, tracking
from skills.cli.parser import NETWORK_FLAGS
from skills.models import model_params
from skills.training import progress_verbosity

__all__ = ["data", "fit_options", "network_options", "prepare_options", "train"]


def network_options(name: str, args) -> dict:
    """The network hyperparameters the user set that architecture ``name`` takes."""
    takes = model_params(name)
    return {param: getattr(args, param) for param in NETWORK_FLAGS
            if param in takes and getattr(args, param) is not None}


def prepare_options(args) -> dict:
    """The `prepare_dataset` / `prepare_walk_forward` keyword arguments the data flags set (not the fractions)."""
    return dict(sequence_length=args.sequence_length, horizon=args.horizon, label=args.label,
                label_basis=args.label_basis, threshold=args.threshold, scaler=args.scaler,
                features=resolve_features(args.features), cross_section=args.cross_section)


def fit_options(args) -> dict:
    """The `fit` keyword arguments the training flags set (train and compare)."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                optimizer=args.optimizer, lr_schedule=args.lr_schedule, clipnorm=args.clipnorm,
                patience=args.patience, class_weight=None if args.class_weight == "none" else args.class_weight,
                precision=args.precision, seed=args.seed, monitor=args.monitor, n_seeds=args.n_seeds,
                devices=args.devices,
                **({} if args.batch_by is None else {"batch_by": args.batch_by}))


def data(args) -> int:
    """Print the summary of the dataset the flags describe."""
    options = prepare_options(args)
    bars = load_bars(args)
    with flag_errors():
        prepared = pipeline.prepare(bars, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                                    **options)
    print(prepared.summary())
    return 0


def train(args) -> int:
    """Train (`skills.pipeline.train`: the model path is locked for the whole run), then print the test table."""
    options = dict(**prepare_options(args), val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                   **network_options(args.model, args), **fit_options(args))
    settings = {key: value for key, value in vars(args).items() if key != "load_report"}
    with flag_errors():
        pipeline.check_model_path(args.model_path)
    tracked = tracking(args)
    with flag_errors():
        bars = load_bars(args)
        result = pipeline.train(bars, model=args.model, model_path=args.model_path, resume=args.resume,
                                tensorboard_dir=args.tensorboard_dir,
                                verbose=progress_verbosity(sys.stdout, quiet=args.quiet),
                                settings=settings, tracking=tracked, **options)
    print(result.format())
    return 0
