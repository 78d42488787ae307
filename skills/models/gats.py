"""GATs, Qlib's ``pytorch_gats_ts.GATModel`` as a Keras network: a recurrent encoder per stock, then graph
attention across the stocks of one date.

Defaults come from Qlib's ``examples/benchmarks/GATs/workflow_config_gats_Alpha360.yaml`` (hidden_size 64,
num_layers 2, dropout 0.7, base_model LSTM, a pretrained LSTM as ``model_path``; the Alpha158 config has the
same network settings). As in Qlib, the graph is the batch: every row of a batch is one stock and
all rows attend to each other, so the network is only meaningful when a batch holds one date's stocks.
`GATsModel` therefore trains on `skills.data.DateBatchDataset` batches (``batch_by="date"``) and predicts
one batch per date.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from skills.data import DateBatchDataset, PreparedData, Split
from skills.models.base import SequenceClassifier
from skills.models.ensemble import member_layers
from skills.models.layers import check_int, check_rate
from skills.models.saving import ModelFileError, model_class, read_metadata
from skills.models.zoo_layers import check_rnn_type, recurrent_stack

__all__ = ["GATsModel", "GraphAttention", "gats_network"]

_LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default, as in Qlib


@keras.saving.register_keras_serializable(package="skills")
class GraphAttention(keras.layers.Layer):
    """Attention of every row of the batch over all rows (the stocks of one date), with a residual.

    Qlib's ``cal_attention``: each encoding is transformed, ``t_i = W h_i + b``; the pair (i, j) scores
    ``e_ij = LeakyReLU(a . [t_j, t_i])`` (a linear map of the concatenated pair, computed as
    ``a_1 . t_j + a_2 . t_i`` so no ``(n, n, 2 units)`` tensor is formed); a softmax over j gives the
    weights and the output is ``h_i + sum_j w_ij h_j``. Permuting the rows permutes the output the
    same way. A one-row batch attends to itself only (output ``2 h``).

    Args:
        negative_slope: float, default 0.01 (torch's LeakyReLU, as Qlib).
        **kwargs: base `Layer` arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(stocks, units)`` encodings of one date's stocks.
        return_attention_scores: bool, default False. Also return the ``(stocks, stocks)`` float32
            weights (row i: how much stock i reads each stock j; rows sum to 1).

    Example:

    >>> out, weights = GraphAttention()(keras.ops.ones((4, 3)), return_attention_scores=True)
    >>> tuple(out.shape), tuple(weights.shape)
    ((4, 3), (4, 4))
    """

    def __init__(self, negative_slope=_LEAKY_SLOPE, **kwargs):
        super().__init__(**kwargs)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or negative_slope < 0:
            raise ValueError(f"`negative_slope` must be a number >= 0. Received: negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def build(self, input_shape):
        units = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(units, units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros")
        self.score_kernel = self.add_weight(name="score_kernel", shape=(2 * units, 1), initializer="glorot_uniform")

    def call(self, inputs, return_attention_scores=False):
        units = ops.shape(inputs)[-1]
        transformed = ops.matmul(inputs, self.kernel) + self.bias  # (n, units)
        other = ops.matmul(transformed, self.score_kernel[:units])  # (n, 1): a_1 . t_j
        own = ops.matmul(transformed, self.score_kernel[units:])  # (n, 1): a_2 . t_i
        scores = ops.cast(own + ops.transpose(other), "float32")  # (n, n): row i, column j
        scores = ops.leaky_relu(scores, negative_slope=self.negative_slope)
        scores = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))  # softmax over j, also for n = 1
        weights = scores / ops.sum(scores, axis=-1, keepdims=True)
        output = inputs + ops.matmul(ops.cast(weights, inputs.dtype), inputs)  # residual
        if return_attention_scores:
            return output, weights
        return output

    def compute_output_shape(self, input_shape, return_attention_scores=False):
        if return_attention_scores:
            return tuple(input_shape), (input_shape[0], input_shape[0])
        return tuple(input_shape)

    def compute_output_spec(self, inputs, return_attention_scores=False):
        output = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        return output, keras.KerasTensor((inputs.shape[0], inputs.shape[0]), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"negative_slope": self.negative_slope})
        return config


def gats_network(x, *, hidden_size, num_layers, dropout_rate, base_model):
    """Encoder -> graph attention across the batch -> Dense + LeakyReLU -> softmax head.

    The encoder is ``num_layers`` recurrent layers (``encoder_1``, ...) of ``hidden_size``, dropout
    between them, whose last hidden state encodes the stock (Qlib's ``out[:, -1, :]``); `GraphAttention`
    mixes the encodings of the batch's rows; Qlib's ``fc`` and LeakyReLU follow, then Dense(3, softmax,
    float32) where Qlib has its one-output regressor. ``(stocks, T, F)`` normalised windows in,
    ``(stocks, 3)`` float32 probabilities out.
    """
    hidden = recurrent_stack(x, units=hidden_size, num_layers=num_layers, dropout_rate=dropout_rate,
                             name="encoder", rnn_type=base_model, last_sequences=False)  # (n, hidden)
    hidden = GraphAttention(name="graph_attention")(hidden)
    hidden = keras.layers.Dense(hidden_size, name="fc")(hidden)
    hidden = keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name="fc_leaky_relu")(hidden)
    return keras.layers.Dense(3, activation="softmax", dtype="float32", name="probs")(hidden)


def _recurrent_layers(network):
    return [layer for layer in network.layers if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]


def _describe(layers):
    """Kind (``"LSTM"`` / ``"GRU"``, a subclass counting as its base) and weight shapes of each recurrent layer."""
    return [("LSTM" if isinstance(layer, keras.layers.LSTM) else "GRU", [tuple(w.shape) for w in layer.weights])
            for layer in layers]


class GATsModel(SequenceClassifier):
    """Graph-attention (Qlib GATs) down / flat / up classifier over the stocks of each date.

    Trains and predicts on daily batches: ``fit`` takes a `PreparedData` (its splits carry dates) and
    trains with ``batch_by="date"``; `predict_proba` on a `Split` runs one batch per date, on arrays it
    needs ``dates=`` (one date for all rows makes them one graph). `predict_frame` on one ticker's bars
    gives one-stock graphs: each stock then attends to itself only, so the output is that of the
    encoder with the residual doubled, not of the model's cross-sectional view.

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        hidden_size: int, default 64 (Qlib Alpha360). Width of the encoder, attention and ``fc``.
        num_layers: int, default 2 (Qlib Alpha360). Recurrent layers of the encoder.
        dropout_rate: float, default 0.7 (Qlib Alpha360). Dropout between the encoder's layers.
        base_model: ``"lstm"`` (default, as Qlib's configs) or ``"gru"``, case-insensitive: the encoder.
        pretrained: path or None, default None. A model file (e.g. an `LSTMModel` or `GRUModel`) whose
            recurrent layers match the encoder in kind, number and shape, trained on the same features;
            ``fit`` starts from its recurrent weights (Qlib's ``model_path``; Qlib's configs point it at
            their trained LSTM). The rest starts fresh; ``fit(..., warm_start=True)`` on a fitted model
            keeps its own weights instead.
    """

    _batches_by_date = True

    def __init__(self, sequence_length=None, hidden_size=64, num_layers=2, dropout_rate=0.7, base_model="lstm",
                 pretrained=None):
        self.sequence_length = sequence_length
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate
        self.base_model = base_model
        self.pretrained = pretrained

    def _validate_params(self):
        super()._validate_params()
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_rate("dropout_rate", self.dropout_rate)
        check_rnn_type(self.base_model)

    def _network(self, x):
        return gats_network(x, hidden_size=self.hidden_size, num_layers=self.num_layers,
                            dropout_rate=self.dropout_rate, base_model=self.base_model)

    def fit(self, data_or_X, y=None, **options):
        """Train on a `PreparedData` in daily batches (see `SequenceClassifier.fit` for the options).

        ``batch_by`` is always ``"date"``: a ``config`` whose ``batch_by`` is ``"window"`` (the
        `TrainConfig` default) is switched to ``"date"``; ``batch_size`` is unused (a batch is a date).

        Raises:
            ValueError: arrays instead of a `PreparedData` (they carry no dates), an explicit
                ``batch_by="window"``, or what `SequenceClassifier.fit` raises.
            ModelFileError: ``pretrained`` cannot be read, is trained on other features, or its
                recurrent layers do not match the encoder (the message names the file and the shapes).
        """
        if not isinstance(data_or_X, PreparedData):
            raise ValueError(f"{type(self).__name__} trains on daily batches (all stocks of a date attend to each "
                             "other): pass a PreparedData, whose splits carry the dates, not arrays")
        if options.get("batch_by", "date") != "date":
            raise ValueError(f"{type(self).__name__} trains with batch_by='date' only (a batch is one date's "
                             f"stocks). Received: batch_by={options['batch_by']!r}")
        options["batch_by"] = "date"
        if self.pretrained is not None and not (options.get("warm_start") and hasattr(self, "network_")):
            self._pretrained_source = self._read_pretrained(data_or_X.feature_names)
        try:
            return super().fit(data_or_X, y, **options)
        finally:
            self._pretrained_source = None

    def _read_pretrained(self, feature_names):
        path = self.pretrained
        source = model_class(read_metadata(path)["model_class"])().load(path)
        if list(source.feature_names_) != [str(name) for name in feature_names]:
            raise ModelFileError(f"{path}: trained on features {source.feature_names_}, the data has "
                                 f"{list(feature_names)}; the encoder cannot start from it")
        return source

    def _initialise(self, network):
        """Copy the recurrent weights of ``pretrained`` into the encoder, layer by layer."""
        if getattr(self, "_pretrained_source", None) is None:
            return network
        path, source = self.pretrained, _recurrent_layers(self._pretrained_source.network_)
        target = _recurrent_layers(network)
        if _describe(source) != _describe(target):
            raise ModelFileError(f"{path}: its recurrent layers {_describe(source)} do not match the GATs encoder "
                                 f"{_describe(target)} (base_model={self.base_model!r}, hidden_size="
                                 f"{self.hidden_size}, num_layers={self.num_layers})")
        for mine, theirs in zip(target, source):
            mine.set_weights([np.asarray(w) for w in theirs.get_weights()])
        return network

    def get_graph_attention(self, X, dates=None):
        """The graph-attention weights of each date: ``{date: (stocks, stocks) float32}``.

        Args:
            X: a `Split` (its dates and ticker order) or raw windows with ``dates``.

        Returns:
            dict from date to the weights of that date's stocks, in the order ``DateBatchDataset``
            gives them (by ticker for a `Split`); row i sums to 1. For a seed ensemble, the mean over
            its members of each member's weights.
        """
        self._check_fitted()
        tickers = None
        if isinstance(X, Split):
            dates, tickers = X.dates, X.tickers
        X = self._check_windows(X)
        if dates is None:
            raise ValueError("get_graph_attention needs the dates: pass a Split or dates=")
        parts = member_layers(self.network_, "graph_attention")  # the trained layers, nothing retrained
        batches = DateBatchDataset(X, dates=dates, tickers=tickers)
        weights = {}
        for index in range(len(batches)):
            windows = np.asarray(batches[index][0], dtype="float32")
            each = [ops.convert_to_numpy(layer(encoder(windows), return_attention_scores=True)[1])
                    for encoder, layer in parts]  # one per member of a seed ensemble
            weights[batches.batch_date(index)] = np.mean(each, axis=0).astype(np.float32)
        return weights
