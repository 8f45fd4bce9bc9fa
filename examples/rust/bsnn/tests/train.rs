//! Inference, the training step and whole training runs, each checked
//! against a computation done here in f64 from the parameters and inputs.

mod common;

use bsnn::{
    Activation, Dataset, EventKind, HistField, Loss, Model, OptParam, Optimizer, OptimizerKind, Scheduler,
    Tensor, TensorView,
};
use common::{close, values};
use std::ops::ControlFlow;

/// out[r][j] = act(sum_i x[r][i] W[i][j] + b[j]), W [in][out] row-major.
fn dense_ref(x: &[f32], w: &[f32], b: &[f32], n_in: usize, act: fn(f64) -> f64) -> Vec<f64> {
    let n_out = b.len();
    let rows = x.len() / n_in;
    let mut out = Vec::new();
    for r in 0..rows {
        for j in 0..n_out {
            let mut z = b[j] as f64;
            for i in 0..n_in {
                z += x[r * n_in + i] as f64 * w[i * n_out + j] as f64;
            }
            out.push(act(z));
        }
    }
    out
}

#[test]
fn predict_computes_x_w_plus_b_row_major() {
    let mut m = Model::builder(3).dense(2).activation(Activation::Tanh).build().unwrap();
    let params = values(7, 3 * 2 + 2);
    m.set_params(&params).unwrap();
    assert_eq!(m.params().unwrap(), params);
    let x = values(8, 5 * 3);
    let got = m.predict(&x).unwrap();
    let want = dense_ref(&x, &params[..6], &params[6..], 3, f64::tanh);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(close(*g as f64, *w, 1e-5), "{} vs {}", g, w);
    }
    // The same through explicit tensors: an owned output and a wrapped one.
    let view = TensorView::new(&x, &[5, 3]).unwrap();
    let mut owned = Tensor::zeros(&[5, 2]).unwrap();
    m.forward(&view, &mut owned).unwrap();
    assert_eq!(owned.as_slice(), &got[..]);
    assert_eq!(owned.shape(), vec![5, 2]);
    let mut buf = vec![0.0f32; 10];
    m.forward(&view, &mut Tensor::wrap(&mut buf, &[5, 2]).unwrap()).unwrap();
    assert_eq!(buf, got);
}

#[test]
fn sgd_step_moves_params_by_minus_lr_times_the_gradient() {
    let mut m = Model::builder(2)
        .dense(3)
        .activation(Activation::Sigmoid)
        .dense(1)
        .loss(Loss::Mse)
        .seed(5)
        .build()
        .unwrap();
    let lr = 0.1;
    let mut opt = Optimizer::new(OptimizerKind::Sgd).unwrap().with(OptParam::Lr, lr).unwrap();
    let x = values(1, 4 * 2);
    let y: Vec<f32> = values(2, 4).iter().map(|v| v.abs()).collect();
    let before = m.params().unwrap();
    let out = m.predict(&x).unwrap();
    // MSE: 1/2 sum_j (o - t)^2 per sample, averaged over the batch.
    let want_loss = out.iter().zip(&y).map(|(o, t)| 0.5 * ((o - t) as f64).powi(2)).sum::<f64>() / 4.0;
    let xv = TensorView::new(&x, &[4, 2]).unwrap();
    let yv = TensorView::new(&y, &[4, 1]).unwrap();
    let loss = m.train_step(&mut opt, &xv, &yv).unwrap();
    assert!(close(loss, want_loss, 1e-6), "{} vs {}", loss, want_loss);
    let grads = m.grads().unwrap();
    let after = m.params().unwrap();
    for i in 0..before.len() {
        let want = before[i] as f64 - lr * grads[i] as f64;
        assert!(close(after[i] as f64, want, 1e-6), "param {}: {} vs {}", i, after[i], want);
    }
    // The gradient itself, by central differences of the mean loss.
    let batch = Dataset::new(&x, &y, 2, 1).unwrap();
    let h = 1e-2f32;
    for i in 0..before.len() {
        let mut p = before.clone();
        p[i] += h;
        m.set_params(&p).unwrap();
        let up = m.evaluate(&batch, 4).unwrap().loss;
        p[i] -= 2.0 * h;
        m.set_params(&p).unwrap();
        let down = m.evaluate(&batch, 4).unwrap().loss;
        let fd = (up - down) / (2.0 * h as f64);
        assert!((fd - grads[i] as f64).abs() < 2e-3, "grad {}: fd {} vs {}", i, fd, grads[i]);
    }
}

fn parity_model(seed: u64) -> Model {
    Model::builder(3)
        .dense(8)
        .activation(Activation::Tanh)
        .dense(1)
        .loss(Loss::BceLogits)
        .seed(seed)
        .build()
        .unwrap()
}

#[test]
fn fit_learns_3_bit_parity_and_evaluate_agrees_with_its_logits() {
    let data = Dataset::parity(3).unwrap();
    let mut m = parity_model(1);
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap().with(OptParam::Lr, 0.05).unwrap();
    let mut sched = Scheduler::new(8).unwrap();
    sched.set_batch_size(4).unwrap();
    let updates = m.fit(&mut opt, &mut sched, &data, 300).run().unwrap();
    assert_eq!(updates, 300 * 2);
    let logits = m.predict(data.inputs()).unwrap();
    let targets = data.targets();
    // Independent BCE-with-logits and accuracy (logit > 0 is class 1).
    let mut bce = 0.0;
    let mut right = 0;
    for (z, t) in logits.iter().zip(targets) {
        let (z, t) = (*z as f64, *t as f64);
        bce += z.max(0.0) - z * t + (-z.abs()).exp().ln_1p();
        right += ((z > 0.0) == (t > 0.5)) as usize;
    }
    bce /= 8.0;
    assert_eq!(right, 8, "logits {:?}", logits);
    let eval = m.evaluate(&data, 3).unwrap();
    assert_eq!(eval.accuracy, 1.0);
    assert!(close(eval.loss, bce, 1e-5), "{} vs {}", eval.loss, bce);
    assert_eq!(m.accuracy(&data, 8).unwrap(), 1.0);
}

#[test]
fn callback_sees_every_step_and_epoch_with_the_epoch_mean_loss() {
    let data = Dataset::parity(3).unwrap();
    let mut m = parity_model(2);
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
    let mut sched = Scheduler::new(8).unwrap();
    sched.set_batch_size(3).unwrap(); // batches 3, 3, 2
    let mut events = Vec::new();
    let steps = m
        .fit(&mut opt, &mut sched, &data, 5)
        .on_event(|p| {
            events.push(p.event);
            ControlFlow::Continue(())
        })
        .run()
        .unwrap();
    assert_eq!(steps, 15);
    let step_events: Vec<_> = events.iter().filter(|e| e.kind == EventKind::Step).collect();
    let epoch_events: Vec<_> = events.iter().filter(|e| e.kind == EventKind::Epoch).collect();
    assert_eq!(step_events.len(), 15);
    assert_eq!(epoch_events.len(), 5);
    for (i, e) in step_events.iter().enumerate() {
        assert_eq!(e.step, i + 1);
        assert_eq!(e.epoch, i / 3);
        assert_eq!(e.batch_size, [3, 3, 2][i % 3]);
    }
    for (k, e) in epoch_events.iter().enumerate() {
        assert_eq!(e.epoch, k);
        let batches = &step_events[3 * k..3 * k + 3];
        let mean = batches.iter().map(|s| s.loss * s.batch_size as f64).sum::<f64>() / 8.0;
        assert!(close(e.loss, mean, 1e-12), "epoch {}: {} vs {}", k, e.loss, mean);
    }
}

#[test]
fn callback_break_stops_training_early_without_an_error() {
    let data = Dataset::parity(3).unwrap();
    let mut m = parity_model(3);
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
    let mut sched = Scheduler::new(8).unwrap();
    sched.set_batch_size(4).unwrap();
    let steps = m
        .fit(&mut opt, &mut sched, &data, 100)
        .on_event(|p| match (p.event.kind, p.event.epoch) {
            (EventKind::Epoch, 2) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .run()
        .unwrap();
    assert_eq!(steps, 3 * 2);
    assert_eq!(sched.epoch(), 3);
}

#[test]
fn a_panic_in_the_callback_stops_training_and_reaches_the_caller() {
    let data = Dataset::parity(3).unwrap();
    let mut m = parity_model(4);
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
    let mut sched = Scheduler::new(8).unwrap();
    sched.set_batch_size(2).unwrap();
    let mut calls = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.fit(&mut opt, &mut sched, &data, 50)
            .on_event(|p| {
                calls += 1;
                if p.event.step == 4 && p.event.kind == EventKind::Step {
                    panic!("boom at step {}", p.event.step);
                }
                ControlFlow::Continue(())
            })
            .run()
    }));
    let payload = result.expect_err("the panic must reach the caller");
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom at step 4"));
    // Steps 1 to 4 (the last batch of epoch 0), then the C loop stopped:
    // no epoch event, no call after the panic.
    assert_eq!(calls, 4);
    assert_eq!(sched.total_steps(), 4);
    // Everything is still usable.
    assert!(m.evaluate(&data, 8).unwrap().loss.is_finite());
    let steps = m.fit(&mut opt, &mut sched, &data, 1).run().unwrap();
    assert_eq!(steps, 4);
}

#[test]
fn history_records_each_epoch_and_the_callback_can_read_it() {
    let all = Dataset::playground(bsnn::Playground::Gauss, 200, 0.1, 9, true).unwrap();
    let (train, val) = all.split(0.75, 1).unwrap();
    let mut m = Model::builder(2)
        .dense(4)
        .activation(Activation::Relu)
        .dense(1)
        .loss(Loss::BceLogits)
        .build()
        .unwrap();
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap().with(OptParam::Lr, 0.01).unwrap();
    let mut sched = Scheduler::new(train.len()).unwrap();
    let mut history = bsnn::History::new().unwrap();
    let mut seen = Vec::new();
    m.fit(&mut opt, &mut sched, &train, 4)
        .validation(&val)
        .history(&mut history)
        .on_event(|p| {
            if p.event.kind == EventKind::Epoch {
                let h = p.history().expect("history attached");
                seen.push((h.len(), h.last(HistField::ValLoss).unwrap().unwrap()));
            }
            ControlFlow::Continue(())
        })
        .run()
        .unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history.column(HistField::Epoch).unwrap(), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    let val_losses = history.column(HistField::ValLoss).unwrap();
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), val_losses);
    let now = m.evaluate(&val, val.len()).unwrap();
    assert!(close(val_losses[3], now.loss, 1e-9), "{} vs {}", val_losses[3], now.loss);
    assert!(close(history.last(HistField::ValAccuracy).unwrap().unwrap(), now.accuracy, 1e-12));
    assert_eq!(history.get(3, HistField::Samples).unwrap(), 4.0 * train.len() as f64);
    // Without a validation set the columns are NaN.
    let mut h2 = bsnn::History::new().unwrap();
    m.fit(&mut opt, &mut sched, &train, 1).history(&mut h2).run().unwrap();
    assert!(h2.get(0, HistField::ValLoss).unwrap().is_nan());
}

#[test]
fn the_callback_can_evaluate_mid_run_without_changing_training() {
    let data = Dataset::parity(3).unwrap();
    let run = |probe: bool| {
        let mut m = parity_model(6);
        let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
        let mut sched = Scheduler::new(8).unwrap();
        // Evaluating 8 rows grows the workspace beyond the training batch.
        sched.set_batch_size(2).unwrap();
        let mut accs = Vec::new();
        m.fit(&mut opt, &mut sched, &data, 20)
            .on_event(|p| {
                if probe && p.event.kind == EventKind::Epoch {
                    accs.push(p.evaluate(&data, 8).unwrap().accuracy);
                    assert_eq!(p.model().n_inputs(), 3);
                    assert_eq!(p.scheduler().epoch(), p.event.epoch + 1);
                    assert_eq!(p.optimizer().kind(), Some(OptimizerKind::Adam));
                }
                ControlFlow::Continue(())
            })
            .run()
            .unwrap();
        (m.params().unwrap(), accs.len())
    };
    let (plain, _) = run(false);
    let (probed, n) = run(true);
    assert_eq!(n, 20);
    assert_eq!(plain, probed);
}

#[test]
fn a_borrowed_dataset_trains_exactly_like_a_copied_one() {
    let x = values(31, 64 * 3);
    let y: Vec<f32> = x.chunks(3).map(|r| (r[0] + r[1] * r[2] > 0.0) as i32 as f32).collect();
    let run = |ds: &bsnn::DatasetRef| {
        let mut m = parity_model(9);
        let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
        let mut sched = Scheduler::new(ds.len()).unwrap();
        m.fit(&mut opt, &mut sched, ds, 5).run().unwrap();
        (m.params().unwrap(), m.evaluate(ds, 64).unwrap())
    };
    let copied = Dataset::new(&x, &y, 3, 1).unwrap();
    let borrowed = Dataset::wrap(&x, &y, 3, 1).unwrap();
    assert_eq!(borrowed.inputs().as_ptr(), x.as_ptr(), "no copy");
    assert_eq!(borrowed.targets(), &y[..]);
    assert_eq!(run(&copied), run(&borrowed));
    let e = Dataset::wrap(&x, &y[1..], 3, 1).err().unwrap();
    assert_eq!(e.status(), bsnn::Status::Shape);
    assert!(e.message().contains("bsnn::Dataset::wrap"), "{}", e);
    let bad = [f32::NAN, 0.0, 0.0];
    assert_eq!(Dataset::wrap(&bad, &[0.0], 3, 1).err().unwrap().status(), bsnn::Status::Failed);
}
