"""Handles are freed exactly once, whatever the order, and a layer given
to a model is the model's. The scenarios run in a fresh interpreter under a
counting allocator (alloc_tracker.py): no double free, no size mismatch, no
leak, and a use after free would crash it (freed memory is zeroed)."""
import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bsnn
from conftest import child_env

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def tracked():
    run = subprocess.run([sys.executable, os.path.join(HERE, "alloc_tracker.py")],
                         capture_output=True, text=True, timeout=300, env=child_env())
    assert run.returncode == 0, "tracker died (%d): %s" % (run.returncode, run.stderr[-2000:])
    return json.loads(run.stdout)


def test_no_double_free_no_size_mismatch_no_leak(tracked):
    assert tracked["allocations"] > 100
    assert tracked["double_frees"] == 0
    assert tracked["unknown_frees"] == 0
    assert tracked["size_mismatches"] == 0
    assert tracked["live_at_end"] == 0
    assert tracked["restored"] == 0  # nothing alive: the allocator could be reset
    for name, s in tracked["scenarios"].items():
        assert s["error"] is None, (name, s["error"])
        assert s["leaked"] == 0, name


@pytest.mark.parametrize("scenario, detail", [
    ("train_and_drop_in_any_order", 5),
    ("layer_consumed_by_add", "ok"),
    ("layer_consumed_by_failed_add", "closed"),
    ("layer_added_twice", "kept by its model"),
    ("explicit_close_and_with_blocks", "ok"),
    ("callback_exception_leaks_nothing", "raised"),
    ("out_of_memory_is_an_ordinary_error", "NoMemoryError -4"),
])
def test_scenario(tracked, scenario, detail):
    assert tracked["scenarios"][scenario]["detail"] == detail


def test_out_of_memory_was_injected(tracked):
    assert tracked["failed_on_purpose"] >= 1


def test_use_after_close_is_a_python_error_not_a_crash():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    m.close()
    assert m.closed
    for use in (lambda: m.n_outputs, lambda: m.predict(np.ones((1, 2))), lambda: m.get_params(),
                lambda: m.save("/tmp/never-written.bsnn"), lambda: m.add(bsnn.Dense(1))):
        with pytest.raises(ValueError, match="closed"):
            use()


def test_with_block_closes():
    with bsnn.Optimizer("sgd", lr=0.5) as opt:
        assert opt["lr"] == 0.5
    assert opt.closed
    with pytest.raises(ValueError):
        opt["lr"]


def test_a_layer_added_becomes_a_view_and_keeps_working():
    d = bsnn.Dense(3, l2=0.5)
    m = bsnn.Model(2, [d])
    assert d.model is m and m.layers[0] is d
    d["l2"] = 0.25  # a setting of the model's layer
    assert m.layers[0]["l2"] == 0.25
    m.close()
    with pytest.raises(ValueError, match="closed"):
        d["l2"]
    d.close()  # harmless: a view frees nothing


def test_a_failed_add_consumes_the_layer():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    m.train_step(np.ones((2, 2)), np.ones((2, 1)), optimizer="sgd")
    late = bsnn.Dense(4)
    with pytest.raises(bsnn.StateError, match="bsnn_model_add"):
        m.add(late)
    assert late.closed
    with pytest.raises(ValueError):
        m.add(late)


def test_layers_of_a_loaded_model_are_views_of_the_right_kind():
    m = bsnn.Model(3, [bsnn.Dense(4), bsnn.Activation("relu"), bsnn.Dropout(0.25, seed=9),
                       bsnn.BatchNorm(momentum=0.2), bsnn.Dense(2)], loss="softmax_ce")
    back = bsnn.Model.from_bytes(m.to_bytes())
    kinds = [type(layer) for layer in back.layers]
    assert kinds == [bsnn.Dense, bsnn.Activation, bsnn.Dropout, bsnn.BatchNorm, bsnn.Dense]
    assert back.layers[2]["rate"] == 0.25 and back.layers[2]["seed"] == 9
    assert back.layers[3]["momentum"] == pytest.approx(0.2)


def test_garbage_collection_frees_cycles():
    # A model referencing its optimizer, the optimizer kept in a cycle.
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    m.optimizer = bsnn.Optimizer("sgd")
    m.optimizer.cycle = m
    fin = m._finalizer
    del m
    gc.collect()
    assert not fin.alive
