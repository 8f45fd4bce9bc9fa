#!/usr/bin/env python3
"""Train 4-bit parity from Python with the bsnn package (examples/python/bsnn).

usage: xor4.py          (bsnn importable: installed, or run from this folder;
                         BSNN_LIBRARY=path/to/libbsnn.so.0 for a built tree)
"""
import sys

import bsnn

data = bsnn.Dataset.parity(4)  # 16 rows of 4 bits, target 1 for odd parity
net = bsnn.Model(4, [bsnn.Dense(8), bsnn.Activation("tanh"), bsnn.Dense(1)],
                 loss="bce_logits")  # one logit: no sigmoid layer
history = net.fit(data, batch_size=4, epochs=2000, optimizer=bsnn.Optimizer("adam", lr=0.05))
loss, accuracy = net.evaluate(data)
print("bsnn %s from Python (%s): %d updates, loss %.5f, accuracy %.2f"
      % (bsnn.version_string(), bsnn.library_path, history.steps, loss, accuracy))
sys.exit(0 if accuracy == 1.0 else 1)
