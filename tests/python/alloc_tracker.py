"""Run lifetime scenarios of the Python package under a counting bsnn
allocator, in a fresh interpreter (bsnn_set_allocator needs no bsnn object
alive), and print one JSON report; test_lifetime.py runs it.

Every bsnn allocation goes through alloc/free below: a pointer freed twice,
freed with another size than it was allocated with, or never freed shows in
the report. Freed blocks are zeroed and kept (never reused until the end),
so a use after free reads NULL fields, which makes bsnn free the object
again (a double free the report counts) instead of going unseen.
FAIL_ABOVE makes allocations larger than it fail (out of memory on
demand)."""
import ctypes
import gc
import json
import sys

import numpy as np

import bsnn
from bsnn._lib import alloc_fn, check, free_fn, lib

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]

live = {}          # pointer -> size
freed = set()      # pointers freed, zeroed and quarantined
report = {"allocations": 0, "double_frees": 0, "unknown_frees": 0, "size_mismatches": 0,
          "failed_on_purpose": 0, "scenarios": {}}
FAIL_ABOVE = [None]


@alloc_fn
def tracked_alloc(user, size):
    if FAIL_ABOVE[0] is not None and size > FAIL_ABOVE[0]:
        report["failed_on_purpose"] += 1
        return None
    p = libc.malloc(size)
    if p:
        live[p] = size
        report["allocations"] += 1
    return p


@free_fn
def tracked_free(user, ptr, size):
    if ptr not in live:
        report["double_frees" if ptr in freed else "unknown_frees"] += 1
        return  # never hand libc a pointer twice
    if live.pop(ptr) != size:
        report["size_mismatches"] += 1
    ctypes.memset(ptr, 0, size)
    freed.add(ptr)  # quarantined: released at the end


def settle():
    gc.collect()
    return len(live)


def scenario(fn):
    base = settle()
    try:
        detail = fn()
        error = None
    except BaseException as e:  # report, do not hide
        detail, error = None, "%s: %s" % (type(e).__name__, e)
    report["scenarios"][fn.__name__] = {"leaked": settle() - base, "detail": detail,
                                        "error": error}


def _trained_objects(x, y):
    """[model, optimizer, dataset, scheduler, history, workspace, layer]
    after a fit, with no other reference to any of them."""
    layer = bsnn.Dense(1)
    m = bsnn.Model(3, [bsnn.Dense(4), bsnn.Activation("tanh"), layer], loss="bce_logits")
    opt = bsnn.Optimizer("adam")
    ds = bsnn.Dataset(x, y)
    sched = bsnn.Scheduler(64, batch_size=8)
    hist = m.fit(ds, optimizer=opt, scheduler=sched, epochs=2, validation=(x, y))
    ws = bsnn.Workspace(m)
    m.predict(x, workspace=ws)
    m.optimizer = None
    del hist.scheduler
    return [m, opt, ds, sched, hist, ws, layer]


def train_and_drop_in_any_order():
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = (x.sum(axis=1) > 0).astype(np.float32)
    orders = 0
    for order in ([0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0], [2, 0, 6, 5, 1, 4, 3],
                  [3, 5, 0, 4, 2, 1, 6], [6, 0, 1, 2, 3, 4, 5]):
        objs = _trained_objects(x, y)
        for i in order:
            objs[i] = None  # the last reference: freed now (a layer: never by itself)
            gc.collect()
        orders += 1
    return orders


def layer_consumed_by_add():
    m = bsnn.Model(3)
    dense = bsnn.Dense(2)
    m.add(dense)
    views = m.layers
    del m  # the layer views keep the model alive: nothing is freed twice
    assert views[0] is dense and dense.model is not None
    dense.set("l2", 0.01)
    model = dense.model
    model.close()  # frees the model and its layer once
    del model, views
    gc.collect()
    try:
        dense.get("l2")
        return "a view of a closed model answered"
    except ValueError:
        pass
    del dense
    gc.collect()  # the view's end frees nothing
    return "ok"


def layer_consumed_by_failed_add():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    m.train_step(np.ones((2, 2), np.float32), np.ones((2, 1), np.float32),
                 optimizer=bsnn.Optimizer("sgd"))
    late = bsnn.Dense(3)
    try:
        m.add(late)  # training has started: C refuses and frees the layer
        return "add after training was accepted"
    except bsnn.StateError:
        pass
    return "closed" if late.closed else "not closed"


def layer_added_twice():
    a, b = bsnn.Model(2), bsnn.Model(2)
    d = bsnn.Dense(2)
    a.add(d)
    try:
        b.add(d)  # already a's: refused, stays with a
        return "added to two models"
    except bsnn.StateError:
        pass
    return "kept by its model" if not d.closed and d.model is a else "lost"


def explicit_close_and_with_blocks():
    with bsnn.Model(2, [bsnn.Dense(1)]) as m, bsnn.Optimizer("sgd") as o:
        m.close()   # closing twice is harmless
        o.close()
    t = bsnn.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    t.close()
    t.close()
    return "ok"


def callback_exception_leaks_nothing():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")

    def boom(p):
        raise KeyError("from the callback")
    try:
        m.fit(np.ones((8, 2)), np.ones(8), epochs=3, callbacks=[boom])
    except KeyError:
        return "raised"
    return "not raised"


def out_of_memory_is_an_ordinary_error():
    m = bsnn.Model(1000)
    FAIL_ABOVE[0] = 1 << 20  # a 1000x1000 dense layer needs 4 MB
    try:
        m.add(bsnn.Dense(1000))
        result = "no error"
    except bsnn.NoMemoryError as e:
        result = "NoMemoryError %d" % e.status
    finally:
        FAIL_ABOVE[0] = None
    m.add(bsnn.Dense(10))  # the model is still valid
    return result


def failed_loads_leak_nothing(tmp):
    m = bsnn.Model(2, [bsnn.Dense(2)], loss="mse")
    data = m.to_bytes()
    failures = 0
    for cut in range(0, len(data), max(1, len(data) // 40)):
        try:
            bsnn.Model.from_bytes(data[:cut])
        except bsnn.FormatError:
            failures += 1
    return failures


def main():
    check(lib.bsnn_set_allocator(tracked_alloc, tracked_free, None))
    for fn in (train_and_drop_in_any_order, layer_consumed_by_add, layer_consumed_by_failed_add,
               layer_added_twice, explicit_close_and_with_blocks, callback_exception_leaks_nothing,
               out_of_memory_is_an_ordinary_error):
        scenario(fn)
    scenario(lambda: failed_loads_leak_nothing(None))
    report["live_at_end"] = settle()
    report["restored"] = lib.bsnn_set_allocator(alloc_fn(), free_fn(), None)
    for p in freed:
        libc.free(p)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
