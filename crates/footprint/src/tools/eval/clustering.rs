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
    /// Integer columns that look like codes (a region, browser or type id: whole numbers from 1
    /// with few distinct values, or a name ending in id, code, region, type…) are left out, as
    /// distances between codes mean nothing; name here those to use as numbers after all.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub numeric: Vec<String>,
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

#[derive(Debug, Clone, Serialize, PartialEq)]
struct CodeColumn {
    column: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    rows: usize,
    features: Vec<String>,
    skipped_columns: Vec<String>,
    /// Integer columns left out as codes, each with why (`--numeric` keeps them).
    code_columns: Vec<CodeColumn>,
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
    let phases = super::Phases::start(format!("reading and clustering {}", eval.csv.display()));
    let report = evaluate(eval)?;
    drop(phases);
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print(&report, eval.log);
    Ok(())
}

fn evaluate(eval: &ClusteringEval) -> anyhow::Result<Report> {
    let Table { features, skipped, codes, rows, labels } = read(eval)?;
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
        code_columns: codes,
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
    for code in &report.code_columns {
        println!(
            "skipped as a code: {} ({}; --numeric {} to use it as a number)",
            code.column, code.reason, code.column
        );
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

struct Table {
    features: Vec<String>,
    skipped: Vec<String>,
    codes: Vec<CodeColumn>,
    rows: Vec<Vec<f64>>,
    labels: Vec<String>,
}

/// Column names that say "identifier, not quantity" (compared lowercased, on the name's last
/// word: `region`, `TrafficType`, `store_id`, `OperatingSystems`).
const CODE_NAMES: [&str; 12] =
    ["id", "code", "region", "type", "category", "class", "zip", "postcode", "browser", "system", "systems", "channel"];

/// At most this many distinct whole numbers from 1 upwards make a column look like a code.
const CODE_MAX_DISTINCT: usize = 32;

/// Why an all-integer column looks like a code rather than a quantity, if it does: a name that
/// says so, or whole numbers from 1 up with few distinct values (a count starts at 0).
fn looks_like_code(name: &str, values: &[f64]) -> Option<String> {
    if values.iter().any(|v| v.fract() != 0.0) {
        return None;
    }
    let last_word = name
        .rsplit(['_', ' ', '-'])
        .next()
        .map(|word| {
            // CamelCase: the part from the last capital after a lowercase letter.
            let at = word
                .char_indices()
                .zip(word.chars().skip(1))
                .filter(|((_, a), b)| a.is_lowercase() && b.is_uppercase())
                .map(|((at, a), _)| at + a.len_utf8())
                .last()
                .unwrap_or(0);
            word[at..].to_lowercase()
        })
        .unwrap_or_default();
    let distinct = values.iter().map(|v| *v as i64).collect::<std::collections::BTreeSet<i64>>();
    if distinct.len() <= 2 {
        return None; // a flag: 0/1, or two values, is a fine feature
    }
    if CODE_NAMES.contains(&last_word.as_str()) {
        return Some(format!("whole numbers, and the name ends in \"{last_word}\""));
    }
    let min = *distinct.first()?;
    if min >= 1 && distinct.len() <= CODE_MAX_DISTINCT {
        return Some(format!("{} distinct whole numbers from {min} up, never 0", distinct.len()));
    }
    None
}

/// Numeric columns (every value parses as a number, or TRUE/FALSE) become features, except
/// integer columns that look like codes (unless `--numeric` names them).
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
    let mut codes = Vec::new();
    let mut columns = Vec::new();
    for (at, name) in headers.iter().enumerate() {
        if at == label_at || eval.exclude.contains(name) {
            continue;
        }
        let values: Option<Vec<f64>> = records.iter().map(|record| record.get(at).and_then(parse)).collect();
        if let Some(values) = values {
            if !eval.numeric.contains(name)
                && let Some(reason) = looks_like_code(name, &values)
            {
                codes.push(CodeColumn { column: name.clone(), reason });
                continue;
            }
            features.push(name.clone());
            columns.push(at);
        } else {
            skipped.push(name.clone());
        }
    }
    for name in &eval.numeric {
        anyhow::ensure!(headers.contains(name), "--numeric names no column {name}; columns: {}", headers.join(", "));
    }
    anyhow::ensure!(
        !columns.is_empty(),
        "no numeric column to cluster on{}",
        if codes.is_empty() {
            String::new()
        } else {
            " (the integer columns look like codes: --numeric to use them)".to_owned()
        }
    );
    let rows = records
        .iter()
        .map(|record| columns.iter().map(|&at| record.get(at).and_then(parse).unwrap_or(0.0)).collect())
        .collect();
    let labels = records.iter().map(|record| record.get(label_at).unwrap_or_default().to_owned()).collect();
    Ok(Table { features, skipped, codes, rows, labels })
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
            numeric: Vec::new(),
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

    #[test]
    fn integer_codes_are_left_out_unless_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codes.csv");
        // Region 1..4 and TrafficType 3..9: codes; visits 0..6: a count (has zeros); a store
        // id named as one; amount: a real number.
        let mut text = String::from("segment,Region,TrafficType,visits,store_id,amount\n");
        for i in 0..40 {
            let segment = if i % 2 == 0 { "low" } else { "high" };
            let amount = if i % 2 == 0 { 1.0 } else { 50.0 } + f64::from(i % 7) * 0.1;
            text.push_str(&format!("{segment},{},{},{},{},{amount}\n", 1 + i % 4, 3 + i % 7, i % 7, 100 + i % 9));
        }
        std::fs::write(&path, text).unwrap();
        let report = evaluate(&eval(path.clone(), "segment")).unwrap();
        assert_eq!(report.features, ["visits", "amount"]);
        let codes: Vec<&str> = report.code_columns.iter().map(|code| code.column.as_str()).collect();
        assert_eq!(codes, ["Region", "TrafficType", "store_id"]);
        assert!(report.code_columns[0].reason.contains("\"region\""), "{:?}", report.code_columns);
        assert!(report.code_columns[1].reason.contains("\"type\""), "{:?}", report.code_columns);

        let told = ClusteringEval { numeric: vec!["Region".to_owned()], ..eval(path.clone(), "segment") };
        assert_eq!(evaluate(&told).unwrap().features, ["Region", "visits", "amount"]);
        let typo = ClusteringEval { numeric: vec!["Regoin".to_owned()], ..eval(path, "segment") };
        assert!(evaluate(&typo).unwrap_err().to_string().contains("--numeric names no column Regoin"));
    }

    #[test]
    fn code_detection_by_values_and_names() {
        assert_eq!(
            looks_like_code("size", &[1.0, 2.0, 3.0, 1.0]).as_deref(),
            Some("3 distinct whole numbers from 1 up, never 0")
        );
        assert_eq!(looks_like_code("visits", &[0.0, 2.0, 3.0, 1.0]), None, "a count has zeros");
        assert_eq!(looks_like_code("score", &[1.5, 2.0, 3.0]), None, "not whole numbers");
        assert_eq!(looks_like_code("flag", &[1.0, 2.0, 1.0]), None, "two values are a flag");
        assert!(looks_like_code("OperatingSystems", &[0.0, 1.0, 2.0]).is_some());
        assert!(looks_like_code("customer id", &[0.0, 10.0, 20.0]).is_some());
        let many: Vec<f64> = (1..=40).map(f64::from).collect();
        assert_eq!(looks_like_code("age", &many), None, "40 distinct values from 1 up: a quantity");
    }
}
