"""fit / predict / evaluate / train_step: results checked against numpy
computations of the same quantities (losses, accuracies, gradients), plus
the History, the callbacks and their exceptions."""
import numpy as np
import pytest

import bsnn


def blobs(rng, n_per=60, k=3):
    centers = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])[:k]
    x = np.concatenate([rng.normal(c, 0.7, size=(n_per, 2)) for c in centers])
    labels = np.repeat(np.arange(k), n_per)
    order = rng.permutation(len(labels))
    return x[order].astype(np.float32), labels[order]


def softmax_ce(logits, labels):
    z = logits.astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def classifier(seed=1):
    return bsnn.Model(2, [bsnn.Dense(8), bsnn.Activation("tanh"), bsnn.Dense(3)],
                      loss="softmax_ce", seed=seed)


def test_parity_is_learned_as_in_the_readme():
    ds = bsnn.Dataset.parity(4)
    m = bsnn.Model(4, [bsnn.Dense(8), bsnn.Activation("tanh"), bsnn.Dense(1)], loss="bce_logits")
    m.fit(ds, batch_size=4, epochs=2000, optimizer=bsnn.Optimizer("adam", lr=0.05))
    ev = m.evaluate(ds)
    logits = m.predict(ds.x).ravel()
    assert ev.accuracy == 1.0
    assert np.array_equal(logits > 0, ds.y.ravel() == 1)  # the same, computed here


def test_class_index_targets_are_accepted_and_evaluated_as_numpy_computes(rng):
    x, labels = blobs(rng)
    m = classifier()
    hist = m.fit(x, labels, batch_size=16, epochs=30, optimizer=bsnn.Optimizer("adam", lr=0.02))
    ev = m.evaluate(x, labels)
    logits = m.predict(x)
    assert ev.accuracy > 0.95
    assert ev.accuracy == pytest.approx(np.mean(logits.argmax(1) == labels), abs=1e-12)
    assert ev.loss == pytest.approx(softmax_ce(logits, labels), rel=1e-5)
    assert len(hist) == 30 and hist["loss"][-1] < hist["loss"][0]


def test_one_hot_and_class_index_targets_give_the_same_loss(rng):
    x, labels = blobs(rng, n_per=10)
    m = classifier()
    one_hot = np.eye(3, dtype=np.float32)[labels]
    a, b = m.evaluate(x, labels), m.evaluate(x, one_hot)
    assert a.loss == pytest.approx(b.loss, rel=1e-6) and a.accuracy == b.accuracy


def test_train_step_is_one_sgd_step_on_the_numpy_gradient(rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    t = rng.normal(size=(5, 2)).astype(np.float32)
    m = bsnn.Model(3, [bsnn.Dense(2)], loss="mse")
    p0 = m.get_params().astype(np.float64)
    w, b = p0[:6].reshape(3, 2), p0[6:]
    o = x.astype(np.float64) @ w + b
    loss_np = 0.5 * np.sum((o - t) ** 2) / 5  # MSE: 1/2 sum_j, mean over rows
    gw, gb = x.T.astype(np.float64) @ (o - t) / 5, (o - t).sum(0) / 5
    lr = 0.1
    loss = m.train_step(x, t, optimizer=bsnn.Optimizer("sgd", lr=lr))
    assert loss == pytest.approx(loss_np, rel=1e-5)
    grads = m.get_grads().astype(np.float64)
    assert np.allclose(grads, np.concatenate([gw.ravel(), gb]), atol=1e-5)
    assert np.allclose(m.get_params(), p0 - lr * np.concatenate([gw.ravel(), gb]), atol=1e-6)


def test_train_step_reads_float64_and_strided_targets(rng):
    x = rng.normal(size=(4, 6))[:, ::2]  # float64, strided
    t = rng.normal(size=(4, 4))[:, 1:3]
    a = bsnn.Model(3, [bsnn.Dense(2)], loss="mse")
    b = bsnn.Model(3, [bsnn.Dense(2)], loss="mse")
    la = a.train_step(x, t, optimizer="sgd")
    lb = b.train_step(np.ascontiguousarray(x, np.float32), np.ascontiguousarray(t, np.float32),
                      optimizer="sgd")
    assert la == lb and np.array_equal(a.get_params(), b.get_params())


def test_history_columns(rng, tmp_path):
    x, labels = blobs(rng, n_per=20)
    xv, lv = blobs(rng, n_per=5)
    m = classifier()
    h = m.fit(x, labels, batch_size=8, epochs=4, validation=(xv, lv), seed=3)
    assert len(h) == 4 and h.epoch == [0, 1, 2, 3]
    assert h["samples"].tolist() == [60.0, 120.0, 180.0, 240.0]
    assert h["updates"].tolist() == [8.0, 16.0, 24.0, 32.0]  # ceil(60 / 8) per epoch
    assert (h["batch_size"] == 8).all()
    assert set(h.history) == {"loss", "val_loss", "val_accuracy", "lr"}
    final = m.evaluate(xv, lv)
    assert h["val_loss"][-1] == pytest.approx(final.loss, rel=1e-9)
    assert h["val_accuracy"][-1] == final.accuracy
    assert h.steps == 32
    p = tmp_path / "h.csv"
    h.write_csv(p)
    assert len(p.read_text().splitlines()) == 5
    no_val = m.fit(x, labels, epochs=1)
    assert "val_loss" not in no_val.history and np.isnan(no_val["val_loss"]).all()


def test_batch_size_larger_than_the_data_is_all_of_it(rng):
    x, labels = blobs(rng, n_per=3)
    h = classifier().fit(x, labels, batch_size=32, epochs=2)
    assert h["batch_size"].tolist() == [9.0, 9.0] and h.steps == 2


def test_scheduler_settings_go_on_the_scheduler():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    with pytest.raises(ValueError, match="batch_size.*scheduler"):
        m.fit(np.ones((4, 2)), np.ones(4), batch_size=2, scheduler=bsnn.Scheduler(4))
    s = bsnn.Scheduler(4, batch_size=2, lr_schedule="step", lr_step_epochs=1, lr_decay=0.5)
    h = m.fit(np.ones((4, 2)), np.ones(4), epochs=3, scheduler=s, optimizer=bsnn.Optimizer("sgd"))
    assert h["lr"].tolist() == [0.01, 0.005, 0.0025]


def test_same_seeds_same_bits(rng):
    x, labels = blobs(rng, n_per=10)
    runs = []
    for _ in range(2):
        m = classifier(seed=7)
        m.fit(x, labels, batch_size=4, epochs=3, seed=11)
        runs.append(m.get_params())
    assert np.array_equal(runs[0], runs[1])
    other = classifier(seed=7)
    other.fit(x, labels, batch_size=4, epochs=3, seed=12)  # another data order
    assert not np.array_equal(runs[0], other.get_params())


def test_the_model_keeps_its_optimizer_between_fits(rng):
    x, labels = blobs(rng, n_per=10)
    m = classifier()
    m.fit(x, labels, epochs=1)
    opt = m.optimizer
    assert opt.kind == bsnn.OptimizerKind.ADAM
    m.fit(x, labels, epochs=1)
    assert m.optimizer is opt


# --- callbacks ---

def test_callbacks_see_every_step_and_epoch(rng):
    x, labels = blobs(rng, n_per=10)  # 30 rows, batches of 8: 4 steps per epoch
    seen = []
    h = classifier().fit(x, labels, batch_size=8, epochs=3, callbacks=[seen.append])
    steps = [p for p in seen if p.event == bsnn.Event.STEP]
    epochs = [p for p in seen if p.event == bsnn.Event.EPOCH]
    assert [p.step for p in steps] == list(range(1, 13))
    assert [p.batch_size for p in steps[:4]] == [8, 8, 8, 6]
    assert [p.epoch for p in epochs] == [0, 1, 2]
    assert [p.loss for p in epochs] == pytest.approx(h["loss"].tolist(), rel=1e-12)


def test_a_truthy_callback_stops_training(rng):
    x, labels = blobs(rng, n_per=10)
    h = classifier().fit(x, labels, batch_size=8, epochs=5, callbacks=lambda p: p.step == 6)
    assert h.steps == 6 and len(h) == 1


def test_an_exception_in_a_callback_stops_training_and_is_raised(rng):
    x, labels = blobs(rng, n_per=10)

    class Stop(Exception):
        pass

    def fail_at_6(p):
        if p.step == 6:
            raise Stop("step 6")

    raising, stopping = classifier(), classifier()
    with pytest.raises(Stop, match="step 6"):
        raising.fit(x, labels, batch_size=8, epochs=5, seed=1, callbacks=[fail_at_6])
    stopping.fit(x, labels, batch_size=8, epochs=5, seed=1, callbacks=lambda p: p.step == 6)
    # Both stopped after the sixth update: the same parameters, bit for bit.
    assert np.array_equal(raising.get_params(), stopping.get_params())
    raising.fit(x, labels, epochs=1)  # and the model trains on afterwards


def test_keyboard_interrupt_in_a_callback_reaches_the_caller(rng):
    x, labels = blobs(rng, n_per=10)

    def interrupt(p):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        classifier().fit(x, labels, epochs=3, callbacks=[interrupt])


def test_a_callback_may_read_the_model_but_not_change_it(rng):
    x, labels = blobs(rng, n_per=10)
    m = classifier()
    ws = bsnn.Workspace(m)
    snapshots = []

    def read(p):
        if p.event == bsnn.Event.EPOCH:
            snapshots.append((m.get_params(), m.predict(x, workspace=ws)))

    m.fit(x, labels, epochs=2, callbacks=[read])
    assert len(snapshots) == 2
    assert np.array_equal(snapshots[-1][1], m.predict(x))  # after the last epoch: the final model
    with pytest.raises(RuntimeError, match="training"):
        m.fit(x, labels, epochs=1, callbacks=[lambda p: m.predict(x)])  # own workspace: refused
    with pytest.raises(RuntimeError, match="training"):
        m.fit(x, labels, epochs=1, callbacks=[lambda p: m.set_params(m.get_params())])


def test_verbose_prints_one_line_per_epoch(rng, capsys):
    x, labels = blobs(rng, n_per=5)
    classifier().fit(x, labels, epochs=2, validation=(x, labels), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2: loss") and "val_accuracy" in lines[1]


def test_callbacks_must_be_callable():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    with pytest.raises(TypeError, match="callables"):
        m.fit(np.ones((2, 2)), np.ones(2), callbacks=[42])
