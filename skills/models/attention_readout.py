"""Read-outs of a trained network beside its probabilities: temporal attention weights and per-step outputs.

Each read-out is a second ``keras.Model`` over the trained layers, from the same input to an inner output
(built once per network, nothing retrained), run over the windows in batches like ``predict_proba``. For a seed
ensemble (`skills.models.ensemble`) a read-out is the mean over the members of each member's values: attention
weights still sum to 1 over the steps, and the per-step probabilities' last step is still `predict_proba`.
"""

from __future__ import annotations

import numpy as np

from skills.models import ensemble
from skills.models.layers import TemporalAttention

__all__ = ["AttentionReadout"]


class AttentionReadout:
    """The attention and per-step read-outs of `skills.models.SequenceClassifier`.

    A mixin: it reads the fitted ``network_`` and checks and batches windows through the estimator's
    ``_check_windows`` and ``_run``.
    """

    def get_attention_weights(self, X, all_steps=False) -> np.ndarray:
        """Temporal attention weights of each window.

        Args:
            X: raw windows or a `Split`, as for `predict_proba`.
            all_steps: bool, default False. For a causal model, return the weights of every step
                ``(n, T, T)`` (row t covers steps <= t) instead of those of the final step.

        Returns:
            float32 ``(n, sequence_length)``, each row sums to 1 (``(n, T, T)`` with ``all_steps``).

        Raises:
            AttributeError: the network has no `TemporalAttention` layer.
        """
        self._check_fitted()
        X = self._check_windows(X)
        weights = self._run(self._submodel("attention"), X).astype(np.float32)
        if weights.ndim == 3 and not all_steps:
            weights = weights[:, -1, :]
        return weights

    def predict_proba_steps(self, X) -> np.ndarray:
        """Per-step probabilities of a causal network: ``(n, sequence_length, 3)`` float32.

        The output at step t depends on steps <= t only; the last step equals `predict_proba`.

        Raises:
            AttributeError: the network is not causal.
        """
        self._check_fitted()
        X = self._check_windows(X)
        return self._run(self._submodel("steps"), X).astype(np.float32)

    def _submodel(self, key):
        """The read-out ``key`` (``"attention"`` or ``"steps"``) of the current ``network_``, built on first use."""
        network = self.network_
        cached = self.__dict__.get("_readouts")
        if cached is None or cached[0] is not network:  # a new network (fit, load): new read-outs
            cached = self._readouts = (network, {})
        submodels = cached[1]
        if key not in submodels:
            submodels[key] = ensemble.readout(network, lambda member: self._inner_output(member, key))
        return submodels[key]

    def _inner_output(self, network, key):
        """The tensor of ``network`` (one network, or one member of an ensemble) that read-out ``key`` returns."""
        if key == "attention":
            layers = [layer for layer in network.layers if isinstance(layer, TemporalAttention)]
            if not layers:
                raise AttributeError(f"{type(self).__name__} has no temporal attention layer")
            return layers[-1].output[1]
        if "step_probs" not in [layer.name for layer in network.layers]:
            raise AttributeError(f"{type(self).__name__} has no per-step outputs; only the causal "
                                 "AttentionLSTMModel(bidirectional=False) has them")
        return network.get_layer("step_probs").output
