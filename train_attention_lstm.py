#!/usr/bin/env python
"""Train an Attention-LSTM (or --model lstm / transformer / causal_attention_lstm) on daily bars.

The same as ``python -m skills train``; ``--help`` lists the flags. With no flags it trains on the
bundled real data in ``data/`` and writes ``models/attention_lstm.h5`` with its report and plots.
"""

import sys

from skills.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
