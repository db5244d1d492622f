//! `footprint eval attendance`: the attendance model on a time split by whole days (the latest
//! share of event days test; history features computed strictly from earlier events), each
//! family (logistic regression, gradient-boosted trees) and the one training chooses, against
//! the base rate and a plain logistic regression without history: ROC AUC, Brier score, log
//! loss, the no-shows found at the model's threshold, and a calibration table. `--write-rows`
//! writes the same feature columns with the label and the side of the split, for an external
//! baseline (`bench/attendance_baseline.py` fits scikit-learn's gradient boosting on them).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use footprint_analytics::attendance::{self, EventInfo, FamilyChoice, NoShowMetrics, TrainOptions};
use footprint_analytics::logistic::{self, BinaryMetrics, CalibrationBin, LogisticConfig};
use serde::Serialize;

use crate::kernel::time::DAY_US;

use super::attendance_data::{Dataset, read_csv};
/// A calibration bin with at least this many cases is held to [`CALIBRATION_TOLERANCE`].
const CALIBRATION_MIN_CASES: usize = 200;
const CALIBRATION_TOLERANCE: f64 = 0.05;

#[derive(Debug, Args)]
pub struct AttendanceEval {
    /// Registrations as CSV (plain or .gz): `event_id,user_id,start,attended` and optionally
    /// `registered_at,event_type,duration_minutes,price,weather` (times in RFC 3339, attended
    /// 0/1 or true/false), any other column being an attribute of the registration (numbers,
    /// true/false or text); or the medical appointments table (`PatientId`, `AppointmentDay`,
    /// `No-show`: one event per appointment); or Wooldridge's `attend` table (`attend`,
    /// `priGPA`), read as 32 classes per student.
    #[arg(long, value_name = "FILE", conflicts_with = "generated")]
    pub csv: Option<PathBuf>,
    /// Use the generated history with known effects instead (Tuesday +15 points, rain −10, one
    /// user in five at 15 %).
    #[arg(long)]
    pub generated: bool,
    /// Weeks of generated history.
    #[arg(long, default_value_t = 40)]
    pub weeks: i64,
    /// Share of the latest event days held out to test (whole days).
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// L2 penalty of the logistic regressions.
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Bins of the calibration table.
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Seeds the generated history and, for Wooldridge, which of a student's classes were the
    /// attended ones (their order is not in the data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the served model's feature columns of every registration with `attended` and
    /// `split` (train|test) as CSV, for an external baseline on the same columns.
    #[arg(long, value_name = "FILE")]
    pub write_rows: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Scored {
    model: String,
    features: Vec<String>,
    metrics: BinaryMetrics,
    /// At the model's own no-show threshold (chosen on its validation days).
    #[serde(skip_serializing_if = "Option::is_none")]
    no_shows: Option<NoShowMetrics>,
    calibration: Vec<CalibrationBin>,
    /// The largest |observed − mean predicted| over bins of at least 200 cases.
    worst_calibration_gap: Option<f64>,
    /// The predictions in ten groups of equal size, lowest first.
    deciles: Vec<Decile>,
    /// The largest |observed − mean predicted| over the deciles of at least 200 cases.
    worst_decile_gap: Option<f64>,
}

/// One tenth of the predictions by rank: its size, mean prediction and observed rate.
#[derive(Debug, Clone, Copy, Serialize)]
struct Decile {
    count: usize,
    mean_predicted: f64,
    observed_rate: f64,
}

/// The predictions sorted and cut into ten groups of (nearly) equal size.
fn deciles(probabilities: &[f64], labels: &[bool]) -> Vec<Decile> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let n = order.len();
    (0..10)
        .filter_map(|d| {
            let part = &order[d * n / 10..(d + 1) * n / 10];
            (!part.is_empty()).then(|| Decile {
                count: part.len(),
                mean_predicted: part.iter().map(|&i| probabilities[i]).sum::<f64>() / part.len() as f64,
                observed_rate: part.iter().filter(|&&i| labels[i]).count() as f64 / part.len() as f64,
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    events: usize,
    users: usize,
    train_examples: usize,
    test_examples: usize,
    test_from: String,
    test_days: usize,
    base_rate_train: f64,
    /// The family training chose on its validation days.
    chosen_family: String,
    attributes: Vec<String>,
    models: Vec<Scored>,
}

pub fn run(eval: &AttendanceEval) -> anyhow::Result<()> {
    anyhow::ensure!(
        eval.test_fraction > 0.0 && eval.test_fraction < 0.9,
        "--test-fraction must be above 0 and below 0.9"
    );
    let data = match (&eval.csv, eval.generated) {
        (Some(path), false) => read_csv(path, eval.seed)?,
        (None, true) => {
            let (events, registrations) = attendance::synthetic::weekly_classes(eval.weeks, eval.seed);
            Dataset {
                name: format!("generated: {} weeks, seed {}", eval.weeks, eval.seed),
                events,
                registrations,
                generated: true,
            }
        }
        _ => bail!("give --csv FILE or --generated"),
    };
    let phases = super::Phases::start(format!("training and testing on {}", data.name));
    let report = evaluate(&data, eval)?;
    drop(phases);
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

/// The first instant of the latest `fraction` of the distinct event days (UTC) that have a
/// registration with a known outcome.
fn test_cut(data: &Dataset, fraction: f64) -> anyhow::Result<(i64, usize)> {
    let starts: HashMap<&str, i64> = data.events.iter().map(|e| (e.event_id.as_str(), e.start_us)).collect();
    let mut days: Vec<i64> = data
        .registrations
        .iter()
        .filter(|r| r.attended.is_some())
        .filter_map(|r| starts.get(r.event_id.as_str()))
        .map(|start| start.div_euclid(DAY_US))
        .collect::<std::collections::BTreeSet<i64>>()
        .into_iter()
        .collect();
    days.sort_unstable();
    anyhow::ensure!(days.len() >= 2, "the registrations with a known outcome span fewer than two days");
    let test_days = ((days.len() as f64 * fraction).round() as usize).clamp(1, days.len() - 1);
    Ok((days[days.len() - test_days] * DAY_US, test_days))
}

fn evaluate(data: &Dataset, eval: &AttendanceEval) -> anyhow::Result<Report> {
    let (cut, test_days) = test_cut(data, eval.test_fraction)?;
    let train_events: Vec<EventInfo> = data.events.iter().filter(|e| e.start_us < cut).cloned().collect();
    let logistic_config = LogisticConfig { l2: eval.l2, ..LogisticConfig::default() };
    let options = |family| TrainOptions { logistic: logistic_config, family, ..TrainOptions::default() };
    let served = attendance::train(&train_events, &data.registrations, &options(FamilyChoice::Auto))
        .map_err(|error| anyhow::anyhow!("the attendance model did not fit: {error}"))?;
    let space = served.model.space.clone();
    // Every registration laid out in the served model's space; the test part from the cut on.
    let (all, _) = attendance::examples_in(&space, &data.events, &data.registrations);
    let (train_examples, test_examples): (Vec<_>, Vec<_>) = all.into_iter().partition(|e| e.event_start_us < cut);
    anyhow::ensure!(train_examples.len() >= 50, "only {} training registrations", train_examples.len());
    anyhow::ensure!(!test_examples.is_empty(), "no test registration");
    let labels: Vec<bool> = test_examples.iter().map(|e| e.attended).collect();
    let score = |model: String, features: Vec<String>, probabilities: Vec<f64>, threshold: Option<f64>| {
        let calibration = logistic::calibration(&probabilities, &labels, eval.bins);
        let worst = calibration
            .iter()
            .filter(|bin| bin.count >= CALIBRATION_MIN_CASES)
            .filter_map(|bin| Some((bin.observed_rate? - bin.mean_predicted?).abs()))
            .fold(None, |worst: Option<f64>, gap| Some(worst.map_or(gap, |w| w.max(gap))));
        let deciles = deciles(&probabilities, &labels);
        let worst_decile_gap = deciles
            .iter()
            .filter(|d| d.count >= CALIBRATION_MIN_CASES)
            .map(|d| (d.observed_rate - d.mean_predicted).abs())
            .fold(None, |worst: Option<f64>, gap| Some(worst.map_or(gap, |w| w.max(gap))));
        Ok::<Scored, anyhow::Error>(Scored {
            model,
            features,
            metrics: BinaryMetrics::compute(&probabilities, &labels).context("no test metrics")?,
            no_shows: threshold.map(|t| NoShowMetrics::compute(&probabilities, &labels, t)),
            calibration,
            worst_calibration_gap: worst,
            deciles,
            worst_decile_gap,
        })
    };
    let base_rate = train_examples.iter().filter(|e| e.attended).count() as f64 / train_examples.len() as f64;
    let mut models = vec![score("base rate".to_owned(), Vec::new(), vec![base_rate; test_examples.len()], None)?];

    // The plain logistic baseline: the same regression on the event columns and the attributes,
    // without the user's history.
    let history = ["historical_rate", "past_registrations"];
    let static_columns: Vec<usize> =
        (0..space.names.len()).filter(|&i| !history.contains(&space.names[i].as_str())).collect();
    let static_row = |e: &attendance::Example| static_columns.iter().map(|&i| e.features[i]).collect::<Vec<f64>>();
    let rows: Vec<Vec<f64>> = train_examples.iter().map(static_row).collect();
    let train_labels: Vec<bool> = train_examples.iter().map(|e| e.attended).collect();
    let plain = logistic::fit(&rows, &train_labels, &logistic_config).context("the baseline did not fit")?;
    models.push(score(
        "plain logistic (no history)".to_owned(),
        static_columns.iter().map(|&i| space.names[i].clone()).collect(),
        test_examples.iter().map(|e| plain.predict_proba(&static_row(e))).collect(),
        None,
    )?);

    // Footprint's families, each trained and calibrated as the server does, then as served.
    for (name, family) in [("footprint logistic", FamilyChoice::Logistic), ("footprint trees", FamilyChoice::Trees)] {
        let trained = attendance::train(&train_events, &data.registrations, &options(family))
            .map_err(|error| anyhow::anyhow!("{name} did not fit: {error}"))?;
        let (examples, _) = attendance::examples_in(&trained.model.space, &data.events, &data.registrations);
        let probabilities: Vec<f64> = examples
            .iter()
            .filter(|e| e.event_start_us >= cut)
            .map(|e| trained.model.probability(&e.features))
            .collect();
        models.push(score(
            format!("{name} (calibrated: {})", trained.model.calibration.as_ref().map_or("none", |c| c.method())),
            trained.model.space.names.clone(),
            probabilities,
            trained.model.no_show_threshold,
        )?);
    }
    models.push(score(
        format!("footprint as served ({:?})", served.family).to_lowercase(),
        space.names.clone(),
        test_examples.iter().map(|e| served.model.probability(&e.features)).collect(),
        served.model.no_show_threshold,
    )?);
    // On generated data, the probabilities the generator used: the best any model can do.
    if data.generated {
        let starts: HashMap<i64, &EventInfo> = data.events.iter().map(|e| (e.start_us, e)).collect();
        let truth: Vec<f64> = test_examples
            .iter()
            .map(|e| {
                starts
                    .get(&e.event_start_us)
                    .map_or(f64::NAN, |event| attendance::synthetic::true_probability(event, &e.user_id))
            })
            .collect();
        models.push(score("true probabilities (generator)".to_owned(), Vec::new(), truth, None)?);
    }
    if let Some(path) = &eval.write_rows {
        write_rows(path, &space.names, &train_examples, &test_examples)?;
    }
    let users: HashSet<&str> = data.registrations.iter().map(|r| r.user_id.as_str()).collect();
    Ok(Report {
        data: data.name.clone(),
        events: data.events.len(),
        users: users.len(),
        train_examples: train_examples.len(),
        test_examples: test_examples.len(),
        test_from: crate::kernel::clock::rfc3339(cut),
        test_days,
        base_rate_train: base_rate,
        chosen_family: format!("{:?}", served.family).to_lowercase(),
        attributes: space
            .attribute_kinds()
            .map(|(name, kind)| format!("{name} ({})", format!("{kind:?}").to_lowercase()))
            .collect(),
        models,
    })
}

/// The feature columns, `attended` (0/1), `split` and the event's `day` of every registration,
/// as CSV.
fn write_rows(
    path: &std::path::Path,
    names: &[String],
    train: &[attendance::Example],
    test: &[attendance::Example],
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = csv::Writer::from_writer(&mut out);
    let mut header: Vec<String> = names.to_vec();
    header.extend(["attended".to_owned(), "split".to_owned(), "day".to_owned()]);
    writer.write_record(&header)?;
    for (split, examples) in [("train", train), ("test", test)] {
        for example in examples {
            let mut record: Vec<String> = example.features.iter().map(|v| v.to_string()).collect();
            record.push(u8::from(example.attended).to_string());
            record.push(split.to_owned());
            record.push(crate::kernel::time::day_text(example.event_start_us.div_euclid(DAY_US)));
            writer.write_record(&record)?;
        }
    }
    writer.flush()?;
    drop(writer);
    out.flush()?;
    Ok(())
}

fn print(report: &Report) {
    println!("data: {}", report.data);
    println!(
        "{} events, {} users; trained on {} registrations, tested on the {} of the last {} event days (from {}; base rate {:.4})",
        report.events,
        report.users,
        report.train_examples,
        report.test_examples,
        report.test_days,
        report.test_from,
        report.base_rate_train
    );
    if !report.attributes.is_empty() {
        println!("attributes: {}", report.attributes.join(", "));
    }
    println!("family chosen on the validation days: {}", report.chosen_family);
    println!();
    println!(
        "| model | ROC AUC | Brier | log loss | accuracy | no-shows: threshold, precision, recall | worst gap, tenths of p (bins ≥ 200) | worst gap, deciles |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|");
    for scored in &report.models {
        let m = &scored.metrics;
        let auc = m.roc_auc.map_or("–".to_owned(), |auc| format!("{auc:.4}"));
        let no_shows = scored.no_shows.map_or("–".to_owned(), |n| {
            format!("p < {:.3}: {:.3}, {:.3} ({} flagged)", n.threshold, n.precision, n.recall, n.flagged)
        });
        let show = |gap: Option<f64>| {
            gap.map_or("–".to_owned(), |g| {
                if g > CALIBRATION_TOLERANCE {
                    format!("{g:.3} (over {CALIBRATION_TOLERANCE})")
                } else {
                    format!("{g:.3}")
                }
            })
        };
        let (gap, decile_gap) = (show(scored.worst_calibration_gap), show(scored.worst_decile_gap));
        println!(
            "| {} | {auc} | {:.4} | {:.4} | {:.4} | {no_shows} | {gap} | {decile_gap} |",
            scored.model, m.brier, m.log_loss, m.accuracy
        );
    }
    for scored in report.models.iter().skip(1) {
        println!();
        println!("calibration, {}:", scored.model);
        println!("| predicted | n | mean predicted | observed |");
        println!("|---|---:|---:|---:|");
        for bin in scored.calibration.iter().filter(|b| b.count > 0) {
            println!(
                "| {:.1}–{:.1} | {} | {:.3} | {:.3} |",
                bin.low,
                bin.high,
                bin.count,
                bin.mean_predicted.unwrap_or(f64::NAN),
                bin.observed_rate.unwrap_or(f64::NAN)
            );
        }
        let row = |f: &dyn Fn(&Decile) -> String| scored.deciles.iter().map(f).collect::<Vec<_>>().join(" | ");
        println!();
        println!(
            "| deciles of p | {} |",
            (1..=scored.deciles.len()).map(|d| d.to_string()).collect::<Vec<_>>().join(" | ")
        );
        println!("|---|{}", "---:|".repeat(scored.deciles.len()));
        println!("| n | {} |", row(&|d| d.count.to_string()));
        println!("| mean predicted | {} |", row(&|d| format!("{:.3}", d.mean_predicted)));
        println!("| observed | {} |", row(&|d| format!("{:.3}", d.observed_rate)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval() -> AttendanceEval {
        AttendanceEval {
            csv: None,
            generated: true,
            weeks: 40,
            test_fraction: 0.25,
            l2: 1.0,
            bins: 10,
            seed: 42,
            write_rows: None,
            json: false,
        }
    }

    #[test]
    fn the_model_beats_the_plain_baseline_on_the_generated_history() {
        let (events, registrations) = attendance::synthetic::weekly_classes(40, 42);
        let data = Dataset { name: "generated".to_owned(), events, registrations, generated: true };
        let dir = tempfile::tempdir().unwrap();
        let rows = dir.path().join("rows.csv");
        let report = evaluate(&data, &AttendanceEval { write_rows: Some(rows.clone()), ..eval() }).unwrap();
        let model = |prefix: &str| report.models.iter().find(|m| m.model.starts_with(prefix)).unwrap();
        let auc = |prefix: &str| model(prefix).metrics.roc_auc.unwrap();
        let served = "footprint as served";
        assert!(auc(served) > auc("plain") + 0.1, "history matters: {} vs {}", auc(served), auc("plain"));
        assert!(auc(served) >= 0.7);
        assert!(model(served).metrics.brier < model("base rate").metrics.brier);
        // The split is by whole days: the test part starts at midnight, on a day with an event,
        // and is the last quarter of the 120 event days.
        assert!(report.test_examples > 0 && report.train_examples > report.test_examples);
        let cut = crate::kernel::clock::parse_rfc3339(&report.test_from).map(crate::kernel::clock::to_us).unwrap();
        assert_eq!(cut.rem_euclid(DAY_US), 0);
        assert!(data.events.iter().any(|e| e.start_us.div_euclid(DAY_US) == cut / DAY_US));
        assert_eq!(report.test_days, 30);
        assert_eq!(
            report.train_examples + report.test_examples,
            data.registrations.iter().filter(|r| r.attended.is_some()).count(),
            "every registration on exactly one side"
        );
        // The generator's own probabilities score at least as well as any model, by Brier.
        assert!(model("true").metrics.brier <= model(served).metrics.brier);
        let binned: usize = model(served).calibration.iter().map(|b| b.count).sum();
        assert_eq!(binned, report.test_examples);
        // Ten deciles of (nearly) equal size, rising mean predictions, every row in one.
        let deciles = &model(served).deciles;
        assert_eq!(deciles.len(), 10);
        assert_eq!(deciles.iter().map(|d| d.count).sum::<usize>(), report.test_examples);
        assert!(deciles.iter().all(|d| d.count.abs_diff(report.test_examples / 10) <= 1));
        assert!(deciles.windows(2).all(|w| w[0].mean_predicted <= w[1].mean_predicted));
        // The no-shows are found at the served model's threshold.
        let no_shows = model(served).no_shows.unwrap();
        assert!(no_shows.recall > 0.3 && no_shows.precision > 0.3, "{no_shows:?}");
        // The rows written: one per registration, the model's columns, label and split.
        let written = std::fs::read_to_string(rows).unwrap();
        let header = written.lines().next().unwrap();
        assert!(header.starts_with("historical_rate,") && header.ends_with(",attended,split,day"), "{header}");
        assert_eq!(written.lines().count(), 1 + report.train_examples + report.test_examples);
        assert_eq!(written.lines().filter(|l| l.contains(",test,")).count(), report.test_examples);
    }
}
