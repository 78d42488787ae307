"""The default Attention-LSTM written in plain PyTorch, and its training speed on the GPU (or the CPU) in float32
and with automatic mixed precision: the yardstick `gpu_train.py` sets the Keras backends beside.

The network mirrors ``skills.models.attention_lstm.attention_lstm_network`` with the seed's hyperparameters (as the
yardstick of ``train_throughput.py``): normalisation by the training statistics, BiLSTM(128) -> dropout 0.3 ->
BiLSTM(64), plus a linear projection of the first sequence added to the second and layer-normed (eps 1e-3),
additive attention ``v . tanh(W h + b)`` with a softmax over time, then Dense(64, relu) -> dropout 0.3 ->
Dense(3). Adam(1e-3), cross-entropy, the windows already on the device, reshuffled each epoch.
"""

from __future__ import annotations

import time

import numpy as np


def attention_lstm(n_features, offset, scale, lstm_units=128, attention_units=64, dropout_rate=0.3):
    import torch
    from torch import nn

    class AttentionLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("offset", torch.as_tensor(np.asarray(offset, np.float32)))
            self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float32)))
            self.lstm_1 = nn.LSTM(n_features, lstm_units, batch_first=True, bidirectional=True)
            self.lstm_1_dropout = nn.Dropout(dropout_rate)
            self.lstm_2 = nn.LSTM(2 * lstm_units, lstm_units // 2, batch_first=True, bidirectional=True)
            self.residual_projection = nn.Linear(2 * lstm_units, lstm_units)
            self.residual_norm = nn.LayerNorm(lstm_units, eps=1e-3)
            self.attention = nn.Linear(lstm_units, attention_units)
            self.attention_score = nn.Linear(attention_units, 1, bias=False)
            self.head_dense = nn.Linear(lstm_units, 64)
            self.head_dropout = nn.Dropout(dropout_rate)
            self.probs = nn.Linear(64, 3)  # logits; CrossEntropyLoss applies the softmax

        def forward(self, windows):  # (b, T, F)
            x = (windows - self.offset) / self.scale
            first = self.lstm_1_dropout(self.lstm_1(x)[0])
            second = self.lstm_2(first)[0]
            encoded = self.residual_norm(second + self.residual_projection(first))
            scores = self.attention_score(torch.tanh(self.attention(encoded))).squeeze(-1)
            weights = torch.softmax(scores.float(), dim=1).to(encoded.dtype)
            context = (weights.unsqueeze(-1) * encoded).sum(dim=1)
            return self.probs(self.head_dropout(torch.relu(self.head_dense(context))))

    return AttentionLSTM()


def train_speed(X, y, offset, scale, batch_size: int, amp: bool, epochs: int, seed: int = 42) -> dict:
    """Samples/s of ``epochs`` timed epochs after a warm-up one (median), float32 or AMP (float16 with a gradient
    scaler on CUDA, bfloat16 on a CPU), on CUDA when torch sees it."""
    import torch

    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    X = torch.as_tensor(np.asarray(X, np.float32), device=device)
    y = torch.as_tensor(np.asarray(y, np.int64), device=device)
    network = attention_lstm(X.shape[2], offset, scale).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    half = torch.float16 if device == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler(device, enabled=amp and device == "cuda")
    generator = torch.Generator(device=device).manual_seed(seed)

    def epoch():
        network.train()
        order = torch.randperm(len(X), generator=generator, device=device)
        for start in range(0, len(X), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device, dtype=half, enabled=amp):
                loss = loss_fn(network(X[index]).float(), y[index])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss)

    wall = []
    for _ in range(epochs + 1):
        started = time.perf_counter()
        loss = epoch()
        wall.append(time.perf_counter() - started)
    timed = wall[1:] or wall
    return {"precision": f"amp_{str(half).split('.')[-1]}" if amp else "float32", "batch_size": batch_size,
            "device": device, "train_samples_per_s": round(len(X) / float(np.median(timed))),
            "epoch_s": [round(t, 2) for t in wall], "final_loss": round(loss, 4)}
