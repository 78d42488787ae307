"""Tests for skills.plots: each figure has the expected axes, images and texts; saving is atomic."""

import matplotlib
import matplotlib.pyplot as plt  # noqa: E402  (after skills.plots chose the backend)
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure  # noqa: E402

from skills.data.labels import CLASS_NAMES
from skills.plots import (
    plot_attention_by_lag,
    plot_attention_heatmap,
    plot_attention_report,
    plot_confusion_matrix,
    plot_equity_curve,
    plot_training_curves,
    plot_walk_forward,
    save_figure,
)

CM = [[5, 1, 0], [2, 3, 1], [0, 4, 7]]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _cell_texts(ax):
    return [t.get_text() for t in ax.texts]


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_training_curves_have_a_panel_per_metric_with_its_validation_twin():
    history = {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.95],
               "accuracy": [0.4, 0.5, 0.55], "val_accuracy": [0.35, 0.45, 0.44]}
    fig = plot_training_curves(history)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    loss_ax = fig.axes[0]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["loss", "val_loss"]
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_xydata(), [[1, 1.1], [2, 0.9], [3, 0.95]])


def test_training_curves_loss_only_and_extra_metrics():
    assert len(plot_training_curves({"loss": [1.0, 0.5]}).axes) == 1
    fig = plot_training_curves({"learning_rate": [1e-3, 1e-3], "accuracy": [0.3, 0.4], "loss": [1.0, 0.9]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning_rate"]


def test_training_curves_read_a_keras_history_object_and_given_axes():
    class History:  # what keras.callbacks.History exposes
        history = {"loss": [1.0, 0.9], "val_loss": [1.2, 1.0]}

    fig, ax = plt.subplots()
    assert plot_training_curves(History(), axes=[ax]) is fig
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="need 1 axes"):
        plot_training_curves(History(), axes=plt.subplots(1, 2)[1])
    with pytest.raises(ValueError, match="no metric"):
        plot_training_curves({})


def test_confusion_matrix_cells_show_the_counts():
    fig = plot_confusion_matrix(CM)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # heatmap + colorbar
    ax = fig.axes[0]
    assert len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), CM)
    assert _cell_texts(ax) == [str(v) for row in CM for v in row]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(CLASS_NAMES)


def test_confusion_matrix_normalized_rows_and_empty_row():
    fig = plot_confusion_matrix([[1, 3, 0], [0, 0, 0], [2, 2, 4]], normalize=True)
    assert _cell_texts(fig.axes[0]) == ["0.25", "0.75", "0.00", "0.00", "0.00", "0.00", "0.25", "0.25", "0.50"]


def test_confusion_matrix_draws_on_a_given_ax_and_checks_shape():
    fig, ax = plt.subplots()
    assert plot_confusion_matrix(CM, ax=ax) is fig
    assert len(ax.images) == 1
    with pytest.raises(ValueError, match="3x3"):
        plot_confusion_matrix([[1, 2], [3, 4]])
    assert _cell_texts(plot_confusion_matrix([[1, 2], [3, 4]], class_names=("a", "b")).axes[0]) == list("1234")


def test_attention_heatmap_shows_the_weights_with_dates():
    weights = np.random.default_rng(0).dirichlet(np.ones(10), size=5)
    dates = pd.date_range("2024-01-01", periods=5, freq="B")
    fig = plot_attention_heatmap(weights, dates=dates)
    ax = fig.axes[0]
    assert len(fig.axes) == 2 and len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), weights)
    assert [t.get_text() for t in ax.get_yticklabels()] == [d.strftime("%Y-%m-%d") for d in dates]
    assert ax.get_xticklabels()[-1].get_text() == "0"  # last column is the window's last bar


def test_attention_heatmap_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"\(n, T\)"):
        plot_attention_heatmap(np.ones(5))
    with pytest.raises(ValueError, match="dates"):
        plot_attention_heatmap(np.ones((3, 4)) / 4, dates=["2024-01-01"])
    with pytest.raises(ValueError, match="windows_axis"):
        plot_attention_heatmap(np.ones((3, 4)) / 4, windows_axis="z")


def test_attention_heatmap_with_windows_along_x_and_a_given_colorbar_axis():
    weights = np.random.default_rng(1).dirichlet(np.ones(6), size=40)
    dates = pd.date_range("2024-01-01", periods=40, freq="B")
    fig, (ax, cax) = plt.subplots(1, 2)
    assert plot_attention_heatmap(weights, dates, ax=ax, windows_axis="x", cax=cax) is fig
    np.testing.assert_allclose(ax.images[0].get_array(), weights.T)  # one column per window
    assert ax.get_yticklabels()[-1].get_text() == "0"  # lag 0 at the bottom
    assert ax.get_xticklabels()[0].get_text() == "2024-01-01" and len(ax.get_xticklabels()) == 7
    assert len(fig.axes) == 2  # the colorbar went into cax, no new axes


def test_attention_by_lag_bars_are_the_mean_weight_per_lag():
    weights = np.array([[0.1, 0.2, 0.7], [0.3, 0.2, 0.5]])
    ax = plot_attention_by_lag(weights).axes[0]
    bars = ax.patches
    assert [b.get_x() + b.get_width() / 2 for b in bars] == pytest.approx([-2, -1, 0])
    assert [b.get_height() for b in bars] == pytest.approx([0.2, 0.2, 0.6])
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(1 / 3)  # the uniform reference


def test_attention_report_lines_up_price_classes_and_heatmap():
    rng = np.random.default_rng(2)
    n, steps = 30, 8
    weights = rng.dirichlet(np.ones(steps), size=n)
    dates = pd.date_range("2023-03-01", periods=n, freq="B")
    close = 100 + np.cumsum(rng.normal(size=n))
    proba = np.eye(3)[np.arange(n) % 3] * 0.6 + 0.4 / 3  # down, flat, up, down, ...
    fig = plot_attention_report(weights, dates, close, proba, title="AAPL")
    price_ax, heat_ax, _, lag_ax = fig.axes
    assert price_ax.get_title() == "AAPL"
    np.testing.assert_allclose(price_ax.get_lines()[0].get_ydata(), close)
    markers = {c.get_label(): c.get_offsets() for c in price_ax.collections}
    assert list(markers) == ["predicted down (10)", "predicted flat (10)", "predicted up (10)"]
    np.testing.assert_allclose(markers["predicted up (10)"], np.c_[np.arange(2, n, 3), close[2::3]])
    np.testing.assert_allclose(heat_ax.images[0].get_array(), weights.T)
    assert price_ax.get_xlim() == heat_ax.get_xlim()  # one x axis: window i sits under its close
    assert len(lag_ax.patches) == steps
    with pytest.raises(ValueError, match="close must be"):
        plot_attention_report(weights, dates, close[:-1], proba)


def test_walk_forward_plot_has_a_bar_per_model_and_a_dot_per_fold():
    def figure(values):
        defined = [v for v in values if v is not None]
        return {"mean": np.mean(defined) if defined else None,
                "std": np.std(defined, ddof=1) if len(defined) > 1 else None, "values": values}

    summary = {"lightgbm": {"macro_f1": figure([0.36, 0.38, 0.37]), "sharpe": figure([0.5, -0.1, 0.2])},
               "majority": {"macro_f1": figure([0.17, 0.19, 0.18]), "sharpe": figure([None] * 3)}}
    fig = plot_walk_forward(summary, keys=("macro_f1", "sharpe"))
    f1_ax, sharpe_ax = fig.axes
    assert [t.get_text() for t in f1_ax.get_yticklabels()] == ["lightgbm", "majority"]
    assert [b.get_width() for b in f1_ax.patches] == pytest.approx([0.37, 0.18])
    dots = [line for line in f1_ax.get_lines() if line.get_marker() == "."]
    np.testing.assert_allclose(dots[0].get_xdata(), [0.36, 0.38, 0.37])
    np.testing.assert_allclose(dots[0].get_ydata(), [0, 0, 0])
    assert len(sharpe_ax.patches) == 1 and [t.get_text() for t in sharpe_ax.texts] == [" n/a"]
    with pytest.raises(ValueError, match="no 'ic'"):
        plot_walk_forward(summary, keys=("ic",))


def test_equity_curve_with_benchmark():
    index = pd.date_range("2024-01-01", periods=4, freq="B")
    equity = pd.Series([100.0, 101.0, 99.0, 105.0], index=index, name="strategy")
    benchmark = pd.Series([100.0, 100.5, 101.0, 102.0], index=index, name="buy & hold")
    fig = plot_equity_curve(equity, benchmark)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["strategy", "buy & hold"]
    np.testing.assert_array_equal(lines[0].get_ydata(), equity.to_numpy())
    np.testing.assert_array_equal(lines[1].get_ydata(), benchmark.to_numpy())
    assert len(plot_equity_curve(equity).axes[0].get_lines()) == 1
    with pytest.raises(ValueError, match="empty"):
        plot_equity_curve(pd.Series([], dtype=float))


def test_save_figure_writes_a_png_atomically_and_closes(tmp_path):
    fig = plot_confusion_matrix(CM)
    target = tmp_path / "nested" / "confusion.png"
    assert save_figure(fig, target) == target
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in target.parent.iterdir()] == ["confusion.png"]  # no temp file left
    assert not plt.fignum_exists(fig.number)
    # overwriting an existing file replaces it in place
    save_figure(plot_training_curves({"loss": [1.0, 0.5]}), target)
    assert target.read_bytes().startswith(b"\x89PNG") and len(list(target.parent.iterdir())) == 1


def test_save_figure_failure_leaves_nothing_behind(tmp_path):
    fig = plot_equity_curve(pd.Series([1.0, 2.0]))
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "curve.notaformat")
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(ValueError, match="suffix"):
        save_figure(plot_equity_curve(pd.Series([1.0, 2.0])), tmp_path / "curve")
    assert list(tmp_path.iterdir()) == []
