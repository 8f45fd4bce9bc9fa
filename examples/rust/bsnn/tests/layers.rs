//! Layers inside a model are reachable and settable; the standardize and
//! layer-norm layers compute their published formulas.

mod common;

use bsnn::{Activation, Dataset, Init, Layer, LayerKind, LayerParam, Loss, Model};
use common::{close, values};

#[test]
fn layers_in_a_model_are_borrowed_views() {
    let mut m = Model::builder(4)
        .layer(Layer::dense(3).and_then(|l| l.with(LayerParam::L2, 0.01)))
        .activation(Activation::LeakyRelu)
        .dropout(0.25)
        .build()
        .unwrap();
    let kinds: Vec<_> = (0..m.n_layers()).map(|i| m.layer(i).unwrap().kind()).collect();
    assert_eq!(kinds, vec![Some(LayerKind::Dense), Some(LayerKind::Activation), Some(LayerKind::Dropout)]);
    assert!(m.layer(3).is_none());
    assert_eq!(m.layer(0).unwrap().get(LayerParam::L2).unwrap(), 0.01);
    m.layer_mut(2).unwrap().set(LayerParam::Rate, 0.5).unwrap();
    assert_eq!(m.layer(2).unwrap().get(LayerParam::Rate).unwrap(), 0.5);
    assert_eq!(m.layer(1).unwrap().get(LayerParam::Slope).unwrap(), 0.01);
    let b = Layer::bounds(LayerKind::Dropout, LayerParam::Rate).unwrap();
    assert!(b.contains(0.0) && !b.contains(1.0));
    assert_eq!(m.n_outputs(), 3);
}

#[test]
fn a_model_initialiser_applies_to_dense_layers() {
    let m = Model::builder(3).init(Init::Zeros).dense(2).build().unwrap();
    assert!(m.params().unwrap().iter().all(|&p| p == 0.0));
    let m = Model::builder(3).dense(2).seed(7).build().unwrap();
    let n = Model::builder(3).dense(2).seed(7).build().unwrap();
    assert_eq!(m.params().unwrap(), n.params().unwrap());
    assert!(m.params().unwrap().iter().any(|&p| p != 0.0));
}

#[test]
fn standardize_computes_x_minus_mean_over_std_and_is_saved() {
    let x = values(12, 40 * 3)
        .iter()
        .enumerate()
        .map(|(i, v)| v * 10.0 + (i % 3) as f32 * 100.0)
        .collect::<Vec<_>>();
    let y = vec![0.0f32; 40];
    let ds = Dataset::new(&x, &y, 3, 1).unwrap();
    let (mean, std) = ds.input_stats().unwrap();
    for c in 0..3 {
        let col: Vec<f64> = x.iter().skip(c).step_by(3).map(|&v| v as f64).collect();
        let mu = col.iter().sum::<f64>() / 40.0;
        let sd = (col.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / 40.0).sqrt();
        assert!(close(mean[c] as f64, mu, 1e-6) && close(std[c] as f64, sd, 1e-6));
    }
    let mut m = Model::builder(3).standardize(&mean, &std).loss(Loss::Mse).build().unwrap();
    assert_eq!(m.layer(0).unwrap().kind(), Some(LayerKind::Standardize));
    let got = m.predict(&x).unwrap();
    for (i, g) in got.iter().enumerate() {
        let want = (x[i] as f64 - mean[i % 3] as f64) / std[i % 3] as f64;
        assert!(close(*g as f64, want, 1e-5), "{}: {} vs {}", i, g, want);
    }
    let mut loaded = Model::from_bytes(&m.to_bytes().unwrap()).unwrap();
    assert_eq!(loaded.predict(&x).unwrap(), got);
    // A model of another width refuses it; bad statistics are refused.
    let e = Model::builder(4).standardize(&mean, &std).build().err().unwrap();
    assert_eq!(e.status(), bsnn::Status::Shape);
    assert!(Layer::standardize(&[0.0], &[0.0]).is_err(), "std 0");
    assert_eq!(Layer::standardize(&[0.0, 1.0], &[1.0]).err().unwrap().status(), bsnn::Status::Shape);
}

#[test]
fn layernorm_normalises_each_row() {
    let mut m = Model::builder(4).layernorm().build().unwrap();
    let x = values(3, 6 * 4);
    let got = m.predict(&x).unwrap();
    for (r, row) in x.chunks(4).enumerate() {
        let mu = row.iter().map(|&v| v as f64).sum::<f64>() / 4.0;
        let var = row.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / 4.0;
        for j in 0..4 {
            let want = (row[j] as f64 - mu) / (var + 1e-5).sqrt();
            assert!(
                close(got[r * 4 + j] as f64, want, 1e-4),
                "row {} col {}: {} vs {}",
                r,
                j,
                got[r * 4 + j],
                want
            );
        }
    }
    // One row alone gives the same as within the batch.
    assert_eq!(m.predict(&x[..4]).unwrap(), got[..4].to_vec());
}
