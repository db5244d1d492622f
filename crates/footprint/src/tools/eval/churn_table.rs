//! `footprint eval churn --label COLUMN`: the churn classifier alone on a table of given
//! features (one row per customer), on a fixed split: rows whose 0-based index is 2 modulo 3
//! are held out.

use anyhow::{Context, bail};
use footprint_analytics::logistic::{self, BinaryMetrics, CalibrationBin};
use footprint_analytics::trees::{self, TreesConfig};
use serde::Serialize;

use super::ChurnEval;
use super::sequences::open;

#[derive(Debug, Serialize)]
struct Scores {
    model: String,
    metrics: Option<BinaryMetrics>,
    calibration: Vec<CalibrationBin>,
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    label: String,
    features: Vec<String>,
    /// Columns read as ln(1 + x) by the second model: non-negative, with values above 1.
    logged: Vec<String>,
    skipped_columns: Vec<String>,
    train_rows: usize,
    train_positives: usize,
    test_rows: usize,
    test_positives: usize,
    models: Vec<Scores>,
}

fn truthy(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" | "y" => Some(true),
        "0" | "0.0" | "false" | "no" | "n" => Some(false),
        _ => None,
    }
}

pub fn run(eval: &ChurnEval, label: &str) -> anyhow::Result<()> {
    let phases = super::Phases::start(format!("reading, training and testing against {label}"));
    let report = evaluate(eval, label)?;
    drop(phases);
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "footprint eval churn: {} — label {}, {} features; train {} rows ({} positive), test {} rows ({} positive: rows 2, 5, 8, …)",
        report.file,
        report.label,
        report.features.len(),
        report.train_rows,
        report.train_positives,
        report.test_rows,
        report.test_positives
    );
    if !report.skipped_columns.is_empty() {
        println!("skipped (not numeric): {}", report.skipped_columns.join(", "));
    }
    println!("ln(1 + x) in the second model: {}\n", report.logged.join(", "));
    println!("{:<44} ROC AUC   Brier   log loss  accuracy  precision  recall", "model (test rows)");
    for scores in &report.models {
        if let Some(m) = &scores.metrics {
            println!(
                "{:<44} {:>6}  {:>6.4}  {:>8.4}  {:>8.3}  {:>9.3}  {:>6.3}",
                scores.model,
                m.roc_auc.map_or("–".to_owned(), |auc| format!("{auc:.3}")),
                m.brier,
                m.log_loss,
                m.accuracy,
                m.precision,
                m.recall
            );
        }
    }
    Ok(())
}

fn evaluate(eval: &ChurnEval, label: &str) -> anyhow::Result<Report> {
    let mut reader = csv::Reader::from_reader(open(&eval.file)?);
    let headers: Vec<String> = reader.headers()?.iter().map(|h| h.trim().to_owned()).collect();
    let Some(label_at) = headers.iter().position(|h| h == label) else {
        bail!("--label {label}: no such column (columns: {})", headers.join(", "));
    };
    let mut table: Vec<Vec<String>> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", eval.file.display(), index + 1))?;
        table.push(record.iter().map(|field| field.trim().to_owned()).collect());
    }
    let numeric: Vec<usize> = (0..headers.len())
        .filter(|&column| column != label_at)
        .filter(|&column| {
            table.iter().all(|row| row.get(column).is_some_and(|v| v.parse::<f64>().is_ok_and(f64::is_finite)))
        })
        .collect();
    let skipped =
        (0..headers.len()).filter(|c| *c != label_at && !numeric.contains(c)).map(|c| headers[c].clone()).collect();
    let mut rows = Vec::with_capacity(table.len());
    let mut labels = Vec::with_capacity(table.len());
    for (index, row) in table.iter().enumerate() {
        let value = row.get(label_at).map(String::as_str).unwrap_or_default();
        let Some(positive) = truthy(value) else {
            bail!("row {}: label {value:?} is not 0/1, true/false or yes/no", index + 1);
        };
        labels.push(positive);
        rows.push(numeric.iter().map(|&column| row[column].parse::<f64>().unwrap_or(0.0)).collect::<Vec<f64>>());
    }
    anyhow::ensure!(!numeric.is_empty(), "no numeric feature column");
    let logged: Vec<usize> = (0..numeric.len())
        .filter(|&j| rows.iter().all(|row: &Vec<f64>| row[j] >= 0.0) && rows.iter().any(|row| row[j] > 1.0))
        .collect();
    let transform = |row: &Vec<f64>| -> Vec<f64> {
        row.iter().enumerate().map(|(j, &x)| if logged.contains(&j) { x.ln_1p() } else { x }).collect()
    };
    let is_test = |index: usize| index % 3 == 2;
    let split = |rows: &[Vec<f64>]| {
        let mut train = (Vec::new(), Vec::new());
        let mut test = (Vec::new(), Vec::new());
        for (index, (row, label)) in rows.iter().zip(&labels).enumerate() {
            let side = if is_test(index) { &mut test } else { &mut train };
            side.0.push(row.clone());
            side.1.push(*label);
        }
        (train, test)
    };
    let mut models = Vec::new();
    let logged_rows: Vec<Vec<f64>> = rows.iter().map(transform).collect();
    let mut counts = (0, 0, 0, 0);
    for (name, data) in [
        ("logistic regression, given features", &rows),
        ("logistic regression, ln(1 + x) of counts and amounts", &logged_rows),
    ] {
        let ((train_x, train_y), (test_x, test_y)) = split(data);
        counts = (
            train_y.len(),
            train_y.iter().filter(|&&y| y).count(),
            test_y.len(),
            test_y.iter().filter(|&&y| y).count(),
        );
        let model = logistic::fit(
            &train_x,
            &train_y,
            &logistic::LogisticConfig { l2: eval.l2, ..logistic::LogisticConfig::default() },
        )?;
        let probabilities: Vec<f64> = test_x.iter().map(|row| model.predict_proba(row)).collect();
        models.push(Scores {
            model: name.to_owned(),
            metrics: BinaryMetrics::compute(&probabilities, &test_y),
            calibration: logistic::calibration(&probabilities, &test_y, 10),
        });
    }
    {
        // Footprint's trees: every 5th training row chooses the number of trees, then all train.
        let ((train_x, train_y), (test_x, test_y)) = split(&rows);
        let (mut fit_x, mut fit_y, mut check_x, mut check_y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (index, (row, label)) in train_x.into_iter().zip(train_y).enumerate() {
            if index % 5 == 4 {
                check_x.push(row);
                check_y.push(label);
            } else {
                fit_x.push(row);
                fit_y.push(label);
            }
        }
        let trees = trees::fit_validated(&fit_x, &fit_y, &check_x, &check_y, &TreesConfig::default())?;
        let probabilities: Vec<f64> = test_x.iter().map(|row| trees.predict_proba(row)).collect();
        models.push(Scores {
            model: format!("gradient-boosted trees ({} trees)", trees.trees.len()),
            metrics: BinaryMetrics::compute(&probabilities, &test_y),
            calibration: logistic::calibration(&probabilities, &test_y, 10),
        });
    }
    Ok(Report {
        file: eval.file.display().to_string(),
        label: label.to_owned(),
        features: numeric.iter().map(|&c| headers[c].clone()).collect(),
        logged: logged.iter().map(|&j| headers[numeric[j]].clone()).collect(),
        skipped_columns: skipped,
        train_rows: counts.0,
        train_positives: counts.1,
        test_rows: counts.2,
        test_positives: counts.3,
        models,
    })
}
