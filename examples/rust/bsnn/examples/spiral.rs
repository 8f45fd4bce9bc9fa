//! Trains the TensorFlow Playground's two spirals with a batch size chosen
//! by the batch-size search, printing progress from the training callback,
//! then saves the model and checks that the saved copy predicts the same.
//!
//! cargo run --example spiral [-- OUT.bsnn]

use bsnn::{
    Activation, Dataset, EventKind, HistField, History, Loss, Model, OptParam, Optimizer, OptimizerKind,
    Playground, Scheduler, Search, SearchParam,
};
use std::ops::ControlFlow;

fn main() -> Result<(), bsnn::Error> {
    bsnn::check_version()?;
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| std::env::temp_dir().join("spiral.bsnn").display().to_string());
    let all = Dataset::playground(Playground::Spiral, 500, 0.0, 1, true)?;
    let (train, val) = all.split(0.8, 7)?;
    let mut model = Model::builder(2)
        .dense(16)
        .activation(Activation::Tanh)
        .dense(16)
        .activation(Activation::Tanh)
        .dense(1)
        .loss(Loss::BceLogits)
        .seed(1)
        .build()?;
    let mut opt = Optimizer::new(OptimizerKind::Adam)?.with(OptParam::Lr, 0.01)?;

    let mut search = Search::new()?.with(SearchParam::Budget, 20)?.with(SearchParam::Start, 32)?;
    let batch = search.run(&mut model, &mut opt, &train, &val, None)?;
    for row in search.rows()? {
        println!(
            "search: batch {:4}  val loss {:.4}  val accuracy {:.3}",
            row.batch, row.val_loss, row.val_accuracy
        );
    }
    println!("bsnn {}: training with batch {}", bsnn::version_string(), batch);

    opt.reset()?;
    let mut sched = Scheduler::new(train.len())?;
    sched.set_batch_size(batch)?;
    let mut history = History::new()?;
    model
        .fit(&mut opt, &mut sched, &train, 300)
        .validation(&val)
        .history(&mut history)
        .on_event(|p| {
            if p.event.kind != EventKind::Epoch {
                return ControlFlow::Continue(());
            }
            let acc = p.history().and_then(|h| h.last(HistField::ValAccuracy).ok().flatten()).unwrap_or(0.0);
            if (p.event.epoch + 1) % 50 == 0 {
                println!(
                    "epoch {:3}  train loss {:.4}  val accuracy {:.3}",
                    p.event.epoch + 1,
                    p.event.loss,
                    acc
                );
            }
            if acc >= 0.99 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .run()?;
    let eval = model.evaluate(&val, val.len())?;
    println!(
        "validation: loss {:.4}, accuracy {:.3} after {} epochs",
        eval.loss,
        eval.accuracy,
        history.len()
    );

    model.save(&out)?;
    let mut loaded = Model::load(&out)?;
    assert_eq!(loaded.predict(val.inputs())?, model.predict(val.inputs())?);
    println!("saved to {}", out);
    Ok(())
}
