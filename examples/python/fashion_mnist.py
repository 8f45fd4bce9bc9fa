#!/usr/bin/env python3
"""Train an MLP on full Fashion-MNIST with the bsnn package.

usage: fashion_mnist.py [--epochs N] [--batch-size B] [--threads T]
                        [--data DIR] [--save MODEL] [--quick]

Reads the gzip'ed IDX files of Debian's dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist) with gzip and numpy: no decompression
step. 60000 training images (the last 5000 held out for validation), 10000
test images; 784 -> 256 -> 128 -> 10 with ReLU, softmax cross-entropy on
the logits, Adam. --quick trains on 6000 rows for one epoch (a smoke test).
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np

import bsnn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (gzip'ed or not) as a numpy array of its item shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("%s: not an IDX file of unsigned bytes" % path)
    rank = raw[3]
    dims = np.frombuffer(raw, ">u4", count=rank, offset=4).astype(np.int64)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        raise ValueError("%s: %d bytes of data for shape %s" % (path, data.size, tuple(dims)))
    return data.reshape(tuple(dims))


def load(directory, part):
    images = read_idx(os.path.join(directory, "%s-images-idx3-ubyte.gz" % part))
    labels = read_idx(os.path.join(directory, "%s-labels-idx1-ubyte.gz" % part))
    # float32 in [0, 1], C-contiguous: bsnn reads it without another copy.
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32), labels


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--save", help="write the trained model here")
    ap.add_argument("--quick", action="store_true", help="6000 rows, one epoch")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    x, y = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    if args.quick:
        x, y, args.epochs = x[:6000], y[:6000], 1
    n_val = len(x) // 12  # 5000 of 60000
    x_train, y_train, x_val, y_val = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
    print("Fashion-MNIST: %d training, %d validation, %d test rows (read in %.1f s)"
          % (len(x_train), len(x_val), len(x_test), time.monotonic() - t0))

    bsnn.set_num_threads(args.threads)
    model = bsnn.Model(784, [bsnn.Dense(256, init="he_uniform"), bsnn.Activation("relu"),
                             bsnn.Dense(128, init="he_uniform"), bsnn.Activation("relu"),
                             bsnn.Dense(10)], loss="softmax_ce", seed=1)
    print("%d parameters; %.1f MB to train at batch %d"
          % (model.param_count, model.memory(args.batch_size, bsnn.Optimizer("adam")) / 1e6,
             args.batch_size))
    t1 = time.monotonic()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation=(x_val, y_val), seed=1, verbose=True,
                        optimizer=bsnn.Optimizer("adam", lr=args.lr))
    train_s = time.monotonic() - t1
    test = model.evaluate(x_test, y_test)
    predicted = model.predict(x_test).argmax(axis=1)
    assert abs(np.mean(predicted == y_test) - test.accuracy) < 1e-9
    print("test: loss %.4f, accuracy %.4f after %d epochs (%d updates) in %.1f s of training"
          % (test.loss, test.accuracy, len(history), history.steps, train_s))
    if args.save:
        model.save(args.save)
        print("model written to %s" % args.save)
    return 0 if test.accuracy > (0.70 if args.quick else 0.85) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
