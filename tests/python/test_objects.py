"""Settings, bounds and the smaller objects: optimizer, scheduler, layers,
datasets (statistics checked against numpy), memory estimates and threads."""
import numpy as np
import pytest

import bsnn


def test_optimizer_settings_by_name_and_enum():
    o = bsnn.Optimizer("rmsprop", lr=0.005, rho=0.9, variant="ruder")
    assert o.kind == bsnn.OptimizerKind.RMSPROP
    assert o["lr"] == 0.005 and o[bsnn.OptParam.RHO] == 0.9
    assert o["variant"] is bsnn.OptVariant.RUDER
    b = o.bounds("lr")
    assert b == bsnn.Optimizer.bounds_for("rmsprop", bsnn.OptParam.LR)
    assert b.lo_open and not b.hi_open and 1e-3 in b and 0.0 not in b
    with pytest.raises(bsnn.ArgumentError, match="bsnn_optimizer_set"):
        o["beta1"] = 0.9  # not a setting of RMSprop
    with pytest.raises(ValueError, match="unknown OptParam"):
        o["learning_rate"] = 0.1
    o.reset()


def test_scheduler_batches_cover_each_epoch_once():
    s = bsnn.Scheduler(10, batch_size=4, seed=5)
    epoch = list(s.batches(1))
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    assert s.epoch == 1 and s.batch_size == 4 and len(s) == 10
    again = list(bsnn.Scheduler(10, batch_size=4, seed=5).batches(1))
    assert all(np.array_equal(a, b) for a, b in zip(epoch, again))
    s.reset()
    assert np.array_equal(s.next()[0], epoch[0])


def test_scheduler_schedules():
    s = bsnn.Scheduler(100, batch_size=8, batch_schedule="geometric", growth_factor=2)
    assert [s.batch_size_at(e) for e in range(4)] == [8, 16, 32, 64]
    s2 = bsnn.Scheduler(100, batch_size=4, batch_schedule="steps")
    s2.set_batch_steps([2, 5], [10, 50])
    assert [s2.batch_size_at(e) for e in (0, 1, 2, 4, 5, 9)] == [4, 4, 10, 10, 50, 50]
    s3 = bsnn.Scheduler(100, warmup_steps=10)
    s3.next()
    assert s3.lr(1.0) == pytest.approx(0.1)  # the first of 10 warmup updates
    s3.seek(2, 1)
    assert (s3.epoch, s3.step) == (2, 1)
    s3["memory_budget"] = 2 ** 62 + 1  # beyond 2^53: exact through the typed twin
    assert s3["memory_budget"] == 2 ** 62 + 1
    with pytest.raises(bsnn.ArgumentError):
        s3["batch_size"] = 101


def test_layer_settings_and_bounds():
    d = bsnn.Dense(4, init="uniform", init_lo=-0.5, init_hi=0.5, l2=1e-3)
    assert d["init"] is bsnn.Init.UNIFORM and d["init_lo"] == -0.5 and d["l2"] == 1e-3
    r = bsnn.Dropout.bounds("rate")
    assert (r.lo, r.hi, r.lo_open, r.hi_open) == (0.0, 1.0, False, True)
    with pytest.raises(bsnn.ArgumentError, match="bsnn_layer_set"):
        bsnn.Activation("relu")["rate"] = 0.5
    leaky = bsnn.Activation(bsnn.ActivationKind.LEAKY_RELU, slope=0.2)
    assert leaky["slope"] == pytest.approx(0.2)
    assert bsnn.Dropout(0.5, seed=2 ** 64 - 1)["seed"] == 2 ** 64 - 1


def test_uniform_init_draws_inside_its_range():
    m = bsnn.Model(50, [bsnn.Dense(40, init="uniform", init_lo=-0.25, init_hi=0.125)])
    w = m.get_params()[:2000]
    assert w.min() >= -0.25 and w.max() <= 0.125 and w.std() > 0.05


def test_model_settings():
    m = bsnn.Model(3, [bsnn.Dense(2)], loss="mse", threshold=0.25)
    assert m["threshold"] == 0.25 and m.loss is bsnn.Loss.MSE
    m["loss"] = "mse_mean"  # routed to bsnn_model_set_loss
    assert m.loss is bsnn.Loss.MSE_MEAN
    m.training = True
    assert m.training
    m.training = False
    assert not m.training
    p = m.get_params()
    m.seed = 123  # reinitialises
    assert not np.array_equal(m.get_params(), p)
    m.init_params(123)
    q = m.get_params()
    m.set_params(q * 0 + 0.5)
    assert (m.get_params() == 0.5).all()
    with pytest.raises(bsnn.ShapeError):
        m.set_params(np.ones(3))
    with pytest.raises(bsnn.ArgumentError):
        m.set_params(np.full(m.param_count, np.nan))
    with pytest.raises(bsnn.ArgumentError, match="bsnn_model_set_loss"):
        bsnn.Model(2, [bsnn.Dense(1)], loss="softmax_ce")  # one output
    assert "Dense" in repr(m)


def test_dataset_statistics_match_numpy(rng):
    x = rng.normal(loc=[1.0, -3.0, 10.0], scale=[0.5, 2.0, 4.0], size=(200, 3)).astype(np.float32)
    ds = bsnn.Dataset(x, np.zeros(200))
    mean, std = ds.input_stats()
    assert np.allclose(mean, x.astype(np.float64).mean(0), rtol=1e-6)
    assert np.allclose(std, x.astype(np.float64).std(0), rtol=1e-5)  # population std
    ds.standardize(mean, std)
    assert np.allclose(ds.x, (x - mean) / std, atol=1e-5)
    a, b = ds.split(0.75, seed=1)
    assert (len(a), len(b)) == (150, 50)
    rows_a = {tuple(r) for r in a.x.tolist()}
    assert rows_a.isdisjoint({tuple(r) for r in b.x.tolist()})


def test_dataset_generators_and_one_hot(tmp_path):
    pg = bsnn.Dataset.playground("spiral", 100, noise=0.1, seed=4, labels01=True)
    assert len(pg) == 100 and set(pg.y.ravel().tolist()) == {0.0, 1.0}
    feats = pg.features("x1", "x2", "sin_x1")
    assert feats.n_inputs == 3 and np.allclose(feats.x[:, 2], np.sin(pg.x[:, 0]), atol=1e-6)
    train, test = bsnn.Dataset.toy1d()
    assert (len(train), len(test)) == (6, 2)
    labels = bsnn.Dataset(np.zeros((3, 1)), np.array([2, 0, 1]))
    assert labels.one_hot(3).y.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,4,1\n")
    csv = bsnn.Dataset.load_csv(p, targets=2)
    assert csv.x.tolist() == [[1, 2], [3, 4]] and csv.y.ravel().tolist() == [0, 1]
    with pytest.raises(bsnn.ConstructorError, match="d.csv"):
        bsnn.Dataset.load_csv(p, targets=7)
    with pytest.raises(bsnn.ShapeError, match="rows"):
        bsnn.Dataset(np.zeros((3, 2)), np.zeros(4))


def test_memory_estimate_and_max_batch_agree():
    m = bsnn.Model(20, [bsnn.Dense(64), bsnn.Activation("relu"), bsnn.Dense(5)], loss="mse")
    opt = bsnn.Optimizer("adam")
    sizes = [m.memory(b, opt) for b in (1, 2, 8, 64, 512)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    for budget in (sizes[1], (sizes[2] + sizes[3]) // 2, sizes[-1] * 3):
        b = m.max_batch(budget, 100000, opt)
        assert m.memory(b, opt) <= budget < m.memory(b + 1, opt)  # the largest that fits
    with pytest.raises(bsnn.ArgumentError, match="bsnn_model_max_batch"):
        m.max_batch(10, 100, opt)


def test_threads_setting():
    n = bsnn.get_num_threads()
    bsnn.set_num_threads(2)
    assert bsnn.get_num_threads() == 2
    with pytest.raises(bsnn.ArgumentError):
        bsnn.set_num_threads(0)
    bsnn.set_num_threads(n)


def test_workspaces_serve_threads(rng):
    import threading
    m = bsnn.Model(8, [bsnn.Dense(16), bsnn.Activation("tanh"), bsnn.Dense(4)], loss="mse")
    x = rng.normal(size=(500, 8)).astype(np.float32)
    want = m.predict(x)
    results = [None] * 4

    def work(i):
        with bsnn.Workspace(m) as ws:
            results[i] = m.predict(x, batch_size=64, workspace=ws)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, want) for r in results)
    with pytest.raises(ValueError, match="another model"):
        m.predict(x, workspace=bsnn.Workspace(bsnn.Model(8, [bsnn.Dense(4)])))
