#!/usr/bin/env python3
"""Train 4-bit parity through bsnn's C ABI from Python, with ctypes only.

usage: xor4.py [path/to/libbsnn.so.0]   (default: lib/libbsnn.so.0)
Every bsnn call takes scalars, pointers and enums, so no binding layer is
needed: declare the signatures used and call them.
"""
import ctypes as C
import sys

lib = C.CDLL(sys.argv[1] if len(sys.argv) > 1 else "lib/libbsnn.so.0")
P = C.c_void_p
for name, res, args in [
    ("bsnn_dataset_parity", P, [C.c_int]),
    ("bsnn_model_create", P, [C.c_size_t]),
    ("bsnn_layer_dense", P, [C.c_size_t]),
    ("bsnn_layer_activation", P, [C.c_int]),
    ("bsnn_model_add", C.c_int, [P, P]),
    ("bsnn_model_set_loss", C.c_int, [P, C.c_int]),
    ("bsnn_optimizer_create", P, [C.c_int]),
    ("bsnn_optimizer_set", C.c_int, [P, C.c_int, C.c_double]),
    ("bsnn_scheduler_create", P, [C.c_size_t]),
    ("bsnn_scheduler_set", C.c_int, [P, C.c_int, C.c_double]),
    ("bsnn_model_train", C.c_int, [C.POINTER(C.c_size_t), P, P, P, P, C.c_size_t, P, P]),
    ("bsnn_model_evaluate", C.c_int, [C.POINTER(C.c_double), C.POINTER(C.c_double), P, P, C.c_size_t]),
    ("bsnn_last_error", C.c_char_p, []),
    ("bsnn_version_string", C.c_char_p, []),
]:
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = res, args

SIGMOID, SGD, OPT_LR, SCHED_BATCH_SIZE, SCHED_SEED, LOSS_MSE = 1, 1, 1, 1, 4, 1  # from bsnn.h

data = lib.bsnn_dataset_parity(4)
net = lib.bsnn_model_create(4)
for layer in (lib.bsnn_layer_dense(8), lib.bsnn_layer_activation(SIGMOID),
              lib.bsnn_layer_dense(1), lib.bsnn_layer_activation(SIGMOID)):
    assert lib.bsnn_model_add(net, layer) == 0, lib.bsnn_last_error()
assert lib.bsnn_model_set_loss(net, LOSS_MSE) == 0, lib.bsnn_last_error()  # required
sgd = lib.bsnn_optimizer_create(SGD)
assert lib.bsnn_optimizer_set(sgd, OPT_LR, 2.0) == 0, lib.bsnn_last_error()
batches = lib.bsnn_scheduler_create(16)
assert lib.bsnn_scheduler_set(batches, SCHED_BATCH_SIZE, 16) == 0  # full batch: gradient descent
steps = C.c_size_t()
st = lib.bsnn_model_train(C.byref(steps), net, sgd, batches, data, 20000, None, None)
if st != 0:
    sys.exit("bsnn_model_train: " + lib.bsnn_last_error().decode())
loss, acc = C.c_double(), C.c_double()
assert lib.bsnn_model_evaluate(C.byref(loss), C.byref(acc), net, data, 16) == 0
print("bsnn %s from Python: %d updates, loss %.5f, accuracy %.2f"
      % (lib.bsnn_version_string().decode(), steps.value, loss.value, acc.value))
for free, obj in (("bsnn_scheduler_free", batches), ("bsnn_optimizer_free", sgd),
                  ("bsnn_model_free", net), ("bsnn_dataset_free", data)):
    getattr(lib, free).argtypes = [P]
    getattr(lib, free)(obj)
sys.exit(0 if acc.value == 1.0 else 1)
