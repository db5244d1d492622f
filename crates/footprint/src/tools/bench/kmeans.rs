//! `footprint bench kmeans`: k-means alone on generated Gaussian blobs (no I/O), with the data
//! optionally written out so that another implementation can be timed on the same points.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use footprint_analytics::cluster::{KMeansOptions, Points, kmeans};
use footprint_analytics::rng::SplitMix64;

#[derive(Debug, Clone, Args)]
pub struct KMeansBench {
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 32)]
    pub dims: usize,
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// k-means++ initialisations (the best is kept).
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// Timed runs (each with another seed); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Also write the points as little-endian f64, row-major (`numpy.fromfile(..).reshape(rows, dims)`).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

/// `k` blobs: centres uniform in [-10, 10]^dims, points normal with unit spread around them.
fn blobs(rows: usize, dims: usize, k: usize, seed: u64) -> Points {
    let mut rng = SplitMix64::new(seed);
    let centres: Vec<f64> = (0..k * dims).map(|_| rng.next_f64() * 20.0 - 10.0).collect();
    let mut values = Vec::with_capacity(rows * dims);
    for _ in 0..rows {
        let centre = rng.below(k);
        for dim in 0..dims {
            // Box–Muller.
            let (u, v) = (rng.next_f64().max(f64::MIN_POSITIVE), rng.next_f64());
            let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            values.push(centres[centre * dims + dim] + normal);
        }
    }
    Points::new(values, dims)
}

pub fn run(bench: &KMeansBench) -> anyhow::Result<()> {
    anyhow::ensure!(bench.rows > 0 && bench.dims > 0 && bench.k > 0, "rows, dims and k must be positive");
    let points = blobs(bench.rows, bench.dims, bench.k, 7);
    if let Some(path) = &bench.write {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for value in &points.values {
            file.write_all(&value.to_le_bytes())?;
        }
        file.flush()?;
        println!("wrote {} × {} f64 to {}", bench.rows, bench.dims, path.display());
    }
    let mut seconds = Vec::new();
    let mut inertias = Vec::new();
    for run in 0..bench.runs.max(1) {
        let options = KMeansOptions { restarts: bench.restarts, seed: 100 + run as u64, ..KMeansOptions::default() };
        let started = Instant::now();
        let model = kmeans(&points, bench.k, &options);
        seconds.push(started.elapsed().as_secs_f64());
        inertias.push(model.inertia);
    }
    seconds.sort_by(f64::total_cmp);
    inertias.sort_by(f64::total_cmp);
    println!(
        "k-means: {} × {}, k = {}, {} init(s), {} runs: time median {:.3} s (min {:.3} s, max {:.3} s); inertia median {:.1} (min {:.1}, max {:.1})",
        bench.rows,
        bench.dims,
        bench.k,
        bench.restarts,
        seconds.len(),
        seconds[seconds.len() / 2],
        seconds[0],
        seconds[seconds.len() - 1],
        inertias[inertias.len() / 2],
        inertias[0],
        inertias[inertias.len() - 1],
    );
    Ok(())
}
