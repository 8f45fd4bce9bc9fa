"""The batch-size search from Python: run and sweep, their results as
numpy columns, the choice checked against those columns, and the model
left as it was."""
import numpy as np
import pytest

import bsnn


@pytest.fixture
def problem(rng):
    x = rng.normal(size=(96, 2)).astype(np.float32)
    labels = (x[:, 0] * x[:, 1] > 0).astype(np.float32)
    train = bsnn.Dataset(x[:64], labels[:64])
    val = (x[64:], labels[64:])
    m = bsnn.Model(2, [bsnn.Dense(8), bsnn.Activation("tanh"), bsnn.Dense(1)],
                   loss="bce_logits", seed=5)
    return m, train, val


def test_sweep_tries_each_size_in_order_and_keeps_the_best(problem, tmp_path):
    m, train, val = problem
    before = m.get_params()
    s = bsnn.Search(budget=3, seed=2)
    best = s.sweep(m, train, val, [4, 16, 64], optimizer=bsnn.Optimizer("adam", lr=0.02))
    r = s.results
    assert len(s) == 3 and r["batch"].tolist() == [4.0, 16.0, 64.0]
    assert best == s.best == int(r["batch"][np.argmin(r["val_loss"])])
    assert r["updates"].tolist() == [3 * 16.0, 3 * 4.0, 3 * 1.0]  # 3 epochs of 64 rows
    assert (r["epochs"] == 3).all() and (r["accumulated"] == 0).all()
    assert np.array_equal(m.get_params(), before)  # restored
    p = tmp_path / "search.csv"
    s.write_csv(p)
    assert len(p.read_text().splitlines()) == 4


def test_run_follows_the_heuristic(problem):
    m, train, val = problem
    s = bsnn.Search(start=16, budget=2, metric="val_accuracy")
    assert s["metric"] == bsnn.SearchMetric.VAL_ACCURACY
    best = s.run(m, train, val, optimizer=bsnn.Optimizer("adam", lr=0.02))
    tried = s.results["batch"].astype(int).tolist()
    assert tried[:3] == [16, 8, 32]  # B, then B/2 and 2B
    assert best in tried
    acc, loss = s.results["val_accuracy"], s.results["val_loss"]
    # Each step keeps the better of the pair and goes on only while it
    # improves, so the choice is the best of all tried (ties: lower val
    # loss, then the smaller size).
    top = max(range(len(tried)), key=lambda i: (acc[i], -loss[i], -tried[i]))
    assert best == tried[top]


def test_search_settings_and_bounds():
    s = bsnn.Search(budget_kind="samples", budget=500, memory_budget=2 ** 40 + 3, seed=2 ** 63)
    assert s["budget_kind"] == bsnn.SearchBudget.SAMPLES
    assert s["memory_budget"] == 2 ** 40 + 3 and s["seed"] == 2 ** 63  # exact, typed
    b = s.bounds("budget")
    assert b.lo_open and b.lo == 0 and 0.5 in b and 0 not in b
    with pytest.raises(bsnn.ArgumentError):
        s["budget"] = 0


def test_search_errors_name_the_call(problem):
    m, train, val = problem
    with pytest.raises(bsnn.ArgumentError, match="bsnn_search_sweep"):
        bsnn.Search().sweep(m, train, val, [1000])  # more than the 64 rows
    with pytest.raises(TypeError, match="Dataset or an \\(x, y\\) pair"):
        bsnn.Search().run(m, train, "val")
