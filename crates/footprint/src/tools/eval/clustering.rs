//! `footprint eval clustering`: k-means on the numeric columns of a CSV file, k chosen by
//! silhouette (or given), scored against a label column with the adjusted Rand index.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use footprint_analytics::cluster::{
    KMeansOptions, Points, Standardizer, adjusted_rand_index, choose_k, kmeans, labels_by_size, silhouette,
};
use serde::Serialize;

/// The silhouette costs n² distances: it is computed on a seeded sample of this many points, as
/// when k is chosen.
const SILHOUETTE_SAMPLE: usize = 2_000;

#[derive(Debug, Args)]
pub struct ClusteringEval {
    /// A CSV file with a header row (plain or .gz).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The column holding the known classes; it is not used as a feature.
    #[arg(long, value_name = "COLUMN")]
    pub label: String,
    /// Replace each value x by ln(1 + x) before standardising (for heavy-tailed counts and
    /// amounts; needs values ≥ 0).
    #[arg(long)]
    pub log: bool,
    /// Use this k instead of choosing it by silhouette.
    #[arg(long)]
    pub k: Option<usize>,
    #[arg(long, default_value_t = 2)]
    pub k_min: usize,
    #[arg(long, default_value_t = 10)]
    pub k_max: usize,
    /// Columns to leave out, besides the label (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// k-means++ restarts per k.
    #[arg(long, default_value_t = 10)]
    pub restarts: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Scored {
    k: usize,
    silhouette: f64,
    adjusted_rand_index: f64,
    sizes: Vec<usize>,
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    rows: usize,
    features: Vec<String>,
    skipped_columns: Vec<String>,
    label: String,
    classes: usize,
    log: bool,
    /// k chosen by silhouette (or the k given).
    chosen: Scored,
    /// The silhouette of every k tried.
    silhouettes: Vec<(usize, f64)>,
    /// k set to the number of classes of the label, for comparison.
    at_label_classes: Scored,
}

pub fn run(eval: &ClusteringEval) -> anyhow::Result<()> {
    anyhow::ensure!(eval.k.is_none_or(|k| k >= 1), "--k must be at least 1");
    let report = evaluate(eval)?;
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print(&report, eval.log);
    Ok(())
}

fn evaluate(eval: &ClusteringEval) -> anyhow::Result<Report> {
    let (features, skipped, rows, labels) = read(eval)?;
    let dims = features.len();
    let mut values: Vec<f64> = rows.into_iter().flatten().collect();
    if eval.log {
        if let Some(negative) = values.iter().find(|v| **v < 0.0) {
            anyhow::bail!("--log needs values ≥ 0; found {negative}");
        }
        values.iter_mut().for_each(|v| *v = v.ln_1p());
    }
    let raw = Points::new(values, dims);
    let points = Standardizer::fit(&raw).transform(&raw);
    let options = KMeansOptions { restarts: eval.restarts, seed: eval.seed, ..KMeansOptions::default() };
    let classes = labels.iter().collect::<std::collections::BTreeSet<_>>().len();
    let label_ids = {
        let mut ids = BTreeMap::new();
        labels
            .iter()
            .map(|label| {
                let next = ids.len();
                *ids.entry(label.clone()).or_insert(next)
            })
            .collect::<Vec<usize>>()
    };
    // k as fitted (k-means clamps it to the number of rows), sizes largest first.
    let score = |k: usize, model_labels: &[usize]| -> Scored {
        let k = k.min(model_labels.len()).max(1);
        let (_, sizes) = labels_by_size(model_labels, k);
        Scored {
            k,
            silhouette: silhouette(&points, model_labels, SILHOUETTE_SAMPLE, eval.seed),
            adjusted_rand_index: adjusted_rand_index(model_labels, &label_ids).unwrap_or(f64::NAN),
            sizes,
        }
    };
    let (chosen, silhouettes) = match eval.k {
        Some(k) => {
            let model = kmeans(&points, k, &options);
            let scored = score(k, &model.labels);
            let silhouettes = vec![(k, scored.silhouette)];
            (scored, silhouettes)
        }
        None => {
            let chosen = choose_k(&points, eval.k_min, eval.k_max, &options).context("too few rows to cluster")?;
            (score(chosen.k, &chosen.model.labels), chosen.scores)
        }
    };
    let at_classes = kmeans(&points, classes, &options);
    let report = Report {
        file: eval.csv.display().to_string(),
        rows: points.rows(),
        features,
        skipped_columns: skipped,
        label: eval.label.clone(),
        classes,
        log: eval.log,
        chosen,
        silhouettes,
        at_label_classes: score(classes, &at_classes.labels),
    };
    Ok(report)
}

fn print(report: &Report, log: bool) {
    println!(
        "{}: {} rows, {} features{}",
        report.file,
        report.rows,
        report.features.len(),
        if log { ", ln(1 + x)" } else { "" }
    );
    println!("features: {}", report.features.join(", "));
    if !report.skipped_columns.is_empty() {
        println!("skipped (not numeric): {}", report.skipped_columns.join(", "));
    }
    let tried: Vec<String> = report.silhouettes.iter().map(|(k, s)| format!("k={k}: {s:.4}")).collect();
    println!("silhouette by k: {}", tried.join("  "));
    for (name, scored) in [("chosen by silhouette", &report.chosen), ("k = label classes", &report.at_label_classes)] {
        println!(
            "{name:<22} k = {:>2}   silhouette {:.4}   ARI vs {} {:.4}   sizes {:?}",
            scored.k, scored.silhouette, report.label, scored.adjusted_rand_index, scored.sizes
        );
    }
}

type Table = (Vec<String>, Vec<String>, Vec<Vec<f64>>, Vec<String>);

/// Numeric columns (every value parses as a number, or TRUE/FALSE) become features.
fn read(eval: &ClusteringEval) -> anyhow::Result<Table> {
    let reader = super::sequences::open(&eval.csv)?;
    let mut csv = csv::Reader::from_reader(reader);
    let headers: Vec<String> = csv.headers()?.iter().map(str::to_owned).collect();
    let label_at = headers.iter().position(|h| *h == eval.label).with_context(|| {
        format!("no column {} in {}; columns: {}", eval.label, eval.csv.display(), headers.join(", "))
    })?;
    let records: Vec<csv::StringRecord> = csv.records().collect::<Result<_, _>>()?;
    anyhow::ensure!(records.len() >= 3, "{} has fewer than 3 rows", eval.csv.display());
    let parse = |text: &str| -> Option<f64> {
        match text.trim() {
            "TRUE" | "True" | "true" => Some(1.0),
            "FALSE" | "False" | "false" => Some(0.0),
            other => other.parse::<f64>().ok().filter(|v| v.is_finite()),
        }
    };
    let mut features = Vec::new();
    let mut skipped = Vec::new();
    let mut columns = Vec::new();
    for (at, name) in headers.iter().enumerate() {
        if at == label_at || eval.exclude.contains(name) {
            continue;
        }
        if records.iter().all(|record| record.get(at).and_then(parse).is_some()) {
            features.push(name.clone());
            columns.push(at);
        } else {
            skipped.push(name.clone());
        }
    }
    anyhow::ensure!(!columns.is_empty(), "no numeric column to cluster on");
    let rows = records
        .iter()
        .map(|record| columns.iter().map(|&at| record.get(at).and_then(parse).unwrap_or(0.0)).collect())
        .collect();
    let labels = records.iter().map(|record| record.get(label_at).unwrap_or_default().to_owned()).collect();
    Ok((features, skipped, rows, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(csv: PathBuf, label: &str) -> ClusteringEval {
        ClusteringEval {
            csv,
            label: label.to_owned(),
            log: false,
            k: None,
            k_min: 2,
            k_max: 5,
            exclude: vec!["note".to_owned()],
            restarts: 3,
            seed: 1,
            json: false,
        }
    }

    #[test]
    fn finds_the_labelled_groups_and_skips_text_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.csv");
        let mut text = String::from("group,x,y,flag,city,note\n");
        for i in 0..30 {
            let (group, base) = if i % 3 == 0 {
                ("a", 0.0)
            } else if i % 3 == 1 {
                ("b", 10.0)
            } else {
                ("c", 20.0)
            };
            let jitter = f64::from(i % 5) * 0.1;
            text.push_str(&format!(
                "{group},{},{},{},Lyon,{i}\n",
                base + jitter,
                base - jitter,
                if group == "a" { "TRUE" } else { "FALSE" }
            ));
        }
        std::fs::write(&path, text).unwrap();
        let report = evaluate(&eval(path.clone(), "group")).unwrap();
        assert_eq!(report.features, ["x", "y", "flag"]);
        assert_eq!(report.skipped_columns, ["city"]);
        assert_eq!(report.classes, 3);
        assert_eq!(report.chosen.k, 3, "{report:?}");
        assert!((report.chosen.adjusted_rand_index - 1.0).abs() < 1e-12, "{report:?}");
        assert_eq!(report.chosen.sizes, [10, 10, 10]);
        let missing = evaluate(&eval(path, "nope")).unwrap_err().to_string();
        assert!(missing.contains("no column nope"), "{missing}");
    }
}
