//! The batch-size search, checked by retraining each candidate by hand
//! through the public API and comparing its validation loss.

mod common;

use bsnn::{
    Activation, Dataset, Loss, Model, OptParam, Optimizer, OptimizerKind, Playground, Scheduler, Search,
    SearchBudget, SearchParam,
};
use common::{close, TempDir};

fn setup() -> (Model, Dataset, Dataset) {
    let all = Dataset::playground(Playground::Xor, 160, 0.1, 5, true).unwrap();
    let (train, val) = all.split(0.5, 3).unwrap();
    let m = Model::builder(2)
        .dense(6)
        .activation(Activation::Tanh)
        .dense(1)
        .loss(Loss::BceLogits)
        .seed(8)
        .build()
        .unwrap();
    (m, train, val)
}

fn adam() -> Optimizer {
    Optimizer::new(OptimizerKind::Adam).unwrap().with(OptParam::Lr, 0.02).unwrap()
}

/// The validation loss of training a copy of `m` at batch `b` for `epochs`.
fn by_hand(m: &Model, train: &Dataset, val: &Dataset, b: usize, epochs: usize, seed: u64) -> f64 {
    let mut copy = m.try_clone().unwrap();
    let mut opt = adam();
    let mut sched = Scheduler::new(train.len()).unwrap();
    sched.set_batch_size(b).unwrap().set_seed(seed).unwrap();
    copy.fit(&mut opt, &mut sched, train, epochs).run().unwrap();
    copy.evaluate(val, val.len()).unwrap().loss
}

#[test]
fn a_sweep_trains_each_size_as_a_run_by_hand_would_and_picks_the_lowest_loss() {
    let (mut m, train, val) = setup();
    let before = m.params().unwrap();
    let mut search = Search::new()
        .unwrap()
        .with(SearchParam::BudgetKind, SearchBudget::Epochs)
        .unwrap()
        .with(SearchParam::Budget, 3)
        .unwrap();
    search.set_seed(21).unwrap();
    let mut opt = adam();
    let sizes = [4, 16, 80];
    let best = search.sweep(&mut m, &mut opt, &train, &val, None, &sizes).unwrap();
    assert_eq!(m.params().unwrap(), before, "the search restores the model");
    let rows = search.rows().unwrap();
    assert_eq!(rows.iter().map(|r| r.batch).collect::<Vec<_>>(), sizes);
    for r in &rows {
        let want = by_hand(&m, &train, &val, r.batch, 3, 21);
        assert!(
            close(r.val_loss, want, 1e-9),
            "batch {}: search {} vs by hand {}",
            r.batch,
            r.val_loss,
            want
        );
        assert_eq!(r.updates, 3 * ((train.len() + r.batch - 1) / r.batch));
        assert_eq!(r.epochs, 3.0);
        assert!(!r.accumulated && r.micro_batch == r.batch && r.peak_bytes > 0);
    }
    let lowest = rows.iter().min_by(|a, b| a.val_loss.partial_cmp(&b.val_loss).unwrap()).unwrap();
    assert_eq!(best, lowest.batch);
    assert_eq!(search.best(), Some(best));
    let dir = TempDir::new("search");
    let csv = dir.path("search.csv");
    search.write_csv(&csv).unwrap();
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 1 + rows.len());
}

#[test]
fn the_heuristic_chooses_the_best_size_it_tried() {
    let (mut m, train, val) = setup();
    let mut search =
        Search::new().unwrap().with(SearchParam::Start, 8).unwrap().with(SearchParam::Budget, 2).unwrap();
    assert_eq!(search.best(), None);
    let mut opt = adam();
    let best = search.run(&mut m, &mut opt, &train, &val, None).unwrap();
    let rows = search.rows().unwrap();
    assert!(rows.len() >= 2, "B/2 and 2B are tried at least: {:?}", rows);
    assert_eq!(rows[0].batch, 8);
    let lowest = rows.iter().min_by(|a, b| a.val_loss.partial_cmp(&b.val_loss).unwrap()).unwrap();
    assert_eq!(best, lowest.batch, "{:?}", rows);
    let e = search.sweep(&mut m, &mut opt, &train, &val, None, &[]).err().unwrap();
    assert_eq!(e.status(), bsnn::Status::Arg);
    assert_eq!(search.set(SearchParam::Budget, 0).err().unwrap().status(), bsnn::Status::Arg);
    search.set_memory_budget(usize::MAX).unwrap();
    assert_eq!(search.memory_budget().unwrap(), usize::MAX);
}

#[test]
fn memory_estimates_grow_with_the_batch_and_bound_max_batch() {
    let (m, _, _) = setup();
    let opt = adam();
    let small = m.memory(&opt, 1).unwrap();
    let large = m.memory(&opt, 1000).unwrap();
    assert!(large > small, "{} vs {}", large, small);
    let fit = m.max_batch(&opt, m.memory(&opt, 300).unwrap(), 100_000).unwrap();
    assert!(fit >= 300 && m.memory(&opt, fit).unwrap() <= m.memory(&opt, 300).unwrap());
    assert!(m.memory(&opt, fit + 1).unwrap() > m.memory(&opt, 300).unwrap());
    assert_eq!(m.max_batch(&opt, 1, 10).err().unwrap().status(), bsnn::Status::Arg);
}
