//! `footprint eval attendance`: the attendance model on a time-ordered split (history features
//! computed strictly from earlier events), against a plain logistic regression on the static
//! features and the training base rate: ROC AUC, Brier score, log loss and a calibration table.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use footprint_analytics::attendance::{self, EventInfo, Example, RegistrationInfo};
use footprint_analytics::logistic::{self, BinaryMetrics, CalibrationBin, LogisticConfig};
use footprint_analytics::rng::SplitMix64;
use serde::Serialize;

use crate::kernel::time::DAY_US;
/// Monday 2024-09-02 10:00 UTC: the first class of the Wooldridge term (its dates are not
/// known; only their order matters).
const TERM_START: i64 = 1_725_271_200_000_000;
/// Classes per student in the Wooldridge `attend` data.
const WOOLDRIDGE_CLASSES: i64 = 32;

#[derive(Debug, Args)]
pub struct AttendanceEval {
    /// Registrations as CSV (plain or .gz): `event_id,user_id,start,attended` and optionally
    /// `registered_at,event_type,duration_minutes,price,weather` (times in RFC 3339, attended
    /// 0/1 or true/false); or Wooldridge's `attend` table (detected by its `attend` and `priGPA`
    /// columns), read as 32 classes per student.
    #[arg(long, value_name = "FILE", conflicts_with = "generated")]
    pub csv: Option<PathBuf>,
    /// Use the generated history with known effects instead (Tuesday +15 points, rain −10, one
    /// user in five at 15 %).
    #[arg(long)]
    pub generated: bool,
    /// Weeks of generated history.
    #[arg(long, default_value_t = 40)]
    pub weeks: i64,
    /// Share of the latest events held out to test.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// L2 penalty of both logistic regressions.
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Bins of the calibration table.
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Seeds the generated history and, for Wooldridge, which of a student's classes were the
    /// attended ones (their order is not in the data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What is evaluated: events, registrations and, for some data, per-user covariates.
struct Dataset {
    name: String,
    events: Vec<EventInfo>,
    registrations: Vec<RegistrationInfo>,
    /// Per-user static covariates (Wooldridge: prior GPA, ACT, freshman, sophomore).
    covariates: HashMap<String, Vec<f64>>,
    covariate_names: Vec<String>,
    /// Made by `attendance::synthetic`, whose true probabilities are known.
    generated: bool,
}

#[derive(Debug, Serialize)]
struct Scored {
    model: String,
    features: Vec<String>,
    metrics: BinaryMetrics,
    calibration: Vec<CalibrationBin>,
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    events: usize,
    users: usize,
    train_examples: usize,
    test_examples: usize,
    test_from: String,
    base_rate_train: f64,
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
                covariates: HashMap::new(),
                covariate_names: Vec::new(),
                generated: true,
            }
        }
        _ => bail!("give --csv FILE or --generated"),
    };
    let report = evaluate(&data, eval)?;
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

fn evaluate(data: &Dataset, eval: &AttendanceEval) -> anyhow::Result<Report> {
    let (_, examples, _) = attendance::examples(&data.events, &data.registrations);
    anyhow::ensure!(examples.len() >= 50, "only {} registrations with a known outcome", examples.len());
    // Split on event time: every registration of an event falls on one side.
    let mut split = ((examples.len() as f64) * (1.0 - eval.test_fraction)).round() as usize;
    let cut = examples[split.min(examples.len() - 1)].event_start_us;
    split = examples.iter().position(|e| e.event_start_us >= cut).unwrap_or(examples.len());
    let (train, test) = examples.split_at(split);
    anyhow::ensure!(!train.is_empty() && !test.is_empty(), "the split leaves one side empty");
    // The feature space of the training part only (its base rate and event types).
    let train_events: Vec<EventInfo> = data.events.iter().filter(|e| e.start_us < cut).cloned().collect();
    let (train_space, train_examples, _) = attendance::examples(&train_events, &data.registrations);
    let (test_examples, _) = attendance::examples_in(&train_space, &data.events, &data.registrations);
    let test_examples: Vec<Example> = test_examples.into_iter().filter(|e| e.event_start_us >= cut).collect();
    let config = LogisticConfig { l2: eval.l2, ..LogisticConfig::default() };
    let labels: Vec<bool> = test_examples.iter().map(|e| e.attended).collect();
    let score = |model: String, features: Vec<String>, probabilities: Vec<f64>| -> anyhow::Result<Scored> {
        Ok(Scored {
            model,
            features,
            metrics: BinaryMetrics::compute(&probabilities, &labels).context("no test metrics")?,
            calibration: logistic::calibration(&probabilities, &labels, eval.bins),
        })
    };
    let base_rate = train_examples.iter().filter(|e| e.attended).count() as f64 / train_examples.len() as f64;
    let mut models = vec![score("base rate".to_owned(), Vec::new(), vec![base_rate; test_examples.len()])?];

    // The plain logistic baseline: the same regression on the event features and the users'
    // static covariates when the data has them, without the user's history.
    let history = ["historical_rate", "past_registrations"];
    let static_columns: Vec<usize> =
        (0..train_space.names.len()).filter(|&i| !history.contains(&train_space.names[i].as_str())).collect();
    let static_row = |e: &Example| {
        let mut row: Vec<f64> = static_columns.iter().map(|&i| e.features[i]).collect();
        row.extend(data.covariates.get(&e.user_id).cloned().unwrap_or_else(|| vec![0.0; data.covariate_names.len()]));
        row
    };
    let rows: Vec<Vec<f64>> = train_examples.iter().map(static_row).collect();
    let train_labels: Vec<bool> = train_examples.iter().map(|e| e.attended).collect();
    let plain = logistic::fit(&rows, &train_labels, &config).context("the baseline did not fit")?;
    let mut plain_features: Vec<String> = static_columns.iter().map(|&i| train_space.names[i].clone()).collect();
    plain_features.extend(data.covariate_names.iter().cloned());
    models.push(score(
        "plain logistic (no history)".to_owned(),
        plain_features,
        test_examples.iter().map(|e| plain.predict_proba(&static_row(e))).collect(),
    )?);

    // Footprint's model: the event features plus the user's smoothed past rate and count.
    let trained = attendance::train(&train_examples, train_space.clone(), &config, 0.0)
        .map_err(|error| anyhow::anyhow!("the attendance model did not fit: {error}"))?;
    models.push(score(
        "footprint (history + event features)".to_owned(),
        train_space.names.clone(),
        test_examples.iter().map(|e| trained.model.model.predict_proba(&e.features)).collect(),
    )?);
    // On generated data, the probabilities the generator used: the best any model can do.
    if data.generated {
        let starts: std::collections::HashMap<i64, &EventInfo> = data.events.iter().map(|e| (e.start_us, e)).collect();
        let truth: Vec<f64> = test_examples
            .iter()
            .map(|e| {
                starts
                    .get(&e.event_start_us)
                    .map_or(f64::NAN, |event| attendance::synthetic::true_probability(event, &e.user_id))
            })
            .collect();
        models.push(score("true probabilities (generator)".to_owned(), Vec::new(), truth)?);
    }
    let users: std::collections::HashSet<&str> = data.registrations.iter().map(|r| r.user_id.as_str()).collect();
    Ok(Report {
        data: data.name.clone(),
        events: data.events.len(),
        users: users.len(),
        train_examples: train_examples.len(),
        test_examples: test_examples.len(),
        test_from: crate::kernel::clock::rfc3339(cut),
        base_rate_train: base_rate,
        models,
    })
}

fn print(report: &Report) {
    println!("data: {}", report.data);
    println!(
        "{} events, {} users; trained on {} registrations, tested on the {} of events from {} on (base rate {:.4})",
        report.events,
        report.users,
        report.train_examples,
        report.test_examples,
        report.test_from,
        report.base_rate_train
    );
    println!();
    println!("| model | ROC AUC | Brier | log loss | accuracy |");
    println!("|---|---:|---:|---:|---:|");
    for scored in &report.models {
        let m = &scored.metrics;
        let auc = m.roc_auc.map_or("–".to_owned(), |auc| format!("{auc:.4}"));
        println!("| {} | {auc} | {:.4} | {:.4} | {:.4} |", scored.model, m.brier, m.log_loss, m.accuracy);
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
    }
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    crate::kernel::clock::parse_rfc3339(text)
        .map(crate::kernel::clock::to_us)
        .with_context(|| format!("{text:?} is not RFC 3339"))
}

fn parse_bool(text: &str) -> anyhow::Result<bool> {
    match text.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => bail!("attended: {other:?} is not 0/1 or true/false"),
    }
}

fn read_csv(path: &std::path::Path, seed: u64) -> anyhow::Result<Dataset> {
    let mut reader = csv::Reader::from_reader(super::sequences::open(path)?);
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    if column("attend").is_some() && column("priGPA").is_some() {
        return wooldridge(path, &headers, &records, seed);
    }
    let (Some(event_at), Some(user_at), Some(start_at), Some(attended_at)) =
        (column("event_id"), column("user_id"), column("start"), column("attended"))
    else {
        bail!(
            "{} needs the columns event_id, user_id, start, attended (or Wooldridge's attend table); it has {}",
            path.display(),
            headers.join(", ")
        );
    };
    let optional = |record: &csv::StringRecord, name: &str| {
        column(name).and_then(|i| record.get(i)).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
    };
    let mut events: BTreeMap<String, EventInfo> = BTreeMap::new();
    let mut registrations = Vec::with_capacity(records.len());
    for (line, record) in records.iter().enumerate() {
        let at = |message: String| format!("row {}: {message}", line + 2);
        let event_id = record.get(event_at).unwrap_or_default().to_owned();
        let start =
            parse_time(record.get(start_at).unwrap_or_default()).map_err(|e| anyhow::anyhow!(at(e.to_string())))?;
        // The same rule as the API's: the column is a condition such as "rain".
        let (bad_weather, temperature_c) = optional(record, "weather")
            .map_or((None, None), |w| attendance::weather_from_json(&serde_json::json!({"condition": w})));
        events.entry(event_id.clone()).or_insert_with(|| EventInfo {
            event_id: event_id.clone(),
            event_type: optional(record, "event_type").unwrap_or_else(|| "event".to_owned()),
            start_us: start,
            duration_minutes: optional(record, "duration_minutes").and_then(|d| d.parse().ok()).unwrap_or(60),
            price: optional(record, "price").and_then(|p| p.parse().ok()),
            bad_weather,
            temperature_c,
            condition: optional(record, "weather")
                .and_then(|w| attendance::weather_condition(&serde_json::json!({"condition": w}))),
            location: optional(record, "location"),
            instructor: optional(record, "instructor"),
        });
        let registered_at = match optional(record, "registered_at") {
            Some(text) => parse_time(&text).map_err(|e| anyhow::anyhow!(at(e.to_string())))?,
            None => start - 7 * DAY_US,
        };
        registrations.push(RegistrationInfo {
            event_id,
            user_id: record.get(user_at).unwrap_or_default().to_owned(),
            registered_at_us: registered_at,
            attended: Some(
                parse_bool(record.get(attended_at).unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!(at(e.to_string())))?,
            ),
        });
    }
    Ok(Dataset {
        name: path.display().to_string(),
        events: events.into_values().collect(),
        registrations,
        covariates: HashMap::new(),
        covariate_names: Vec::new(),
        generated: false,
    })
}

/// Wooldridge's `attend`: for each student, classes attended out of 32, with prior GPA, ACT and
/// year. The term is laid out as 32 classes on Mondays and Wednesdays; which of a student's
/// classes were the attended ones is not in the data, so a seeded shuffle picks them (their
/// order is exchangeable). History features then measure what a student's past attendance says
/// about the next class; the baseline uses the covariates a registrar would know beforehand.
fn wooldridge(
    path: &std::path::Path,
    headers: &[String],
    records: &[csv::StringRecord],
    seed: u64,
) -> anyhow::Result<Dataset> {
    let column = |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("no column {name}"));
    let (attend, gpa, act, frosh, soph) =
        (column("attend")?, column("priGPA")?, column("ACT")?, column("frosh")?, column("soph")?);
    let events: Vec<EventInfo> = (0..WOOLDRIDGE_CLASSES)
        .map(|class| EventInfo {
            event_id: format!("class-{class:02}"),
            event_type: "lecture".to_owned(),
            // Two a week: Monday and Wednesday.
            start_us: TERM_START + ((class / 2) * 7 + (class % 2) * 2) * DAY_US,
            duration_minutes: 75,
            price: None,
            bad_weather: None,
            temperature_c: None,
            condition: None,
            location: None,
            instructor: None,
        })
        .collect();
    let mut rng = SplitMix64::new(seed);
    let mut registrations = Vec::new();
    let mut covariates = HashMap::new();
    for (row, record) in records.iter().enumerate() {
        let number = |index: usize| -> anyhow::Result<f64> {
            record
                .get(index)
                .unwrap_or_default()
                .trim()
                .parse::<f64>()
                .with_context(|| format!("row {}: not a number", row + 2))
        };
        let attended = number(attend)? as i64;
        anyhow::ensure!((0..=WOOLDRIDGE_CLASSES).contains(&attended), "row {}: attend must be 0–32", row + 2);
        let user = format!("student-{row}");
        covariates.insert(user.clone(), vec![number(gpa)?, number(act)?, number(frosh)?, number(soph)?]);
        // A seeded shuffle of the 32 classes; the first `attended` were attended.
        let mut order: Vec<i64> = (0..WOOLDRIDGE_CLASSES).collect();
        rng.shuffle(&mut order);
        let came: std::collections::HashSet<i64> = order[..attended as usize].iter().copied().collect();
        for (class, event) in events.iter().enumerate() {
            registrations.push(RegistrationInfo {
                event_id: event.event_id.clone(),
                user_id: user.clone(),
                registered_at_us: TERM_START - DAY_US,
                attended: Some(came.contains(&(class as i64))),
            });
        }
    }
    Ok(Dataset {
        name: format!("{} (Wooldridge attend: {} students × 32 classes, seed {seed})", path.display(), records.len()),
        events,
        registrations,
        covariates,
        covariate_names: ["priGPA", "ACT", "frosh", "soph"].map(str::to_owned).to_vec(),
        generated: false,
    })
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
            json: false,
        }
    }

    #[test]
    fn the_model_beats_the_plain_baseline_on_the_generated_history() {
        let (events, registrations) = attendance::synthetic::weekly_classes(40, 42);
        let data = Dataset {
            name: "generated".to_owned(),
            events,
            registrations,
            covariates: HashMap::new(),
            covariate_names: Vec::new(),
            generated: true,
        };
        let report = evaluate(&data, &eval()).unwrap();
        let auc = |i: usize| report.models[i].metrics.roc_auc.unwrap();
        assert!(auc(2) > auc(1) + 0.1, "history matters: {} vs {}", auc(2), auc(1));
        assert!(auc(2) >= 0.7);
        assert!(report.models[2].metrics.brier < report.models[0].metrics.brier);
        // The split is on event time: no event has registrations on both sides.
        assert!(report.test_examples > 0 && report.train_examples > report.test_examples);
        let cut = crate::kernel::clock::parse_rfc3339(&report.test_from).map(crate::kernel::clock::to_us).unwrap();
        assert!(data.events.iter().any(|e| e.start_us == cut), "the test part starts at an event");
        assert_eq!(
            report.train_examples + report.test_examples,
            data.registrations.iter().filter(|r| r.attended.is_some()).count(),
            "every registration on exactly one side"
        );
        // The generator's own probabilities score at least as well as any model, by Brier.
        let truth = report.models.iter().find(|m| m.model.starts_with("true")).unwrap();
        assert!(truth.metrics.brier <= report.models[2].metrics.brier);
        let binned: usize = report.models[2].calibration.iter().map(|b| b.count).sum();
        assert_eq!(binned, report.test_examples);
    }

    #[test]
    fn wooldridge_rows_become_32_classes_with_the_attended_count() {
        let headers: Vec<String> = ["attend", "priGPA", "ACT", "frosh", "soph"].map(str::to_owned).to_vec();
        let records = vec![csv::StringRecord::from(vec!["27", "2.64", "23", "0", "1"])];
        let data = wooldridge(std::path::Path::new("attend.csv"), &headers, &records, 1).unwrap();
        assert_eq!(data.events.len(), 32);
        assert_eq!(data.registrations.len(), 32);
        assert_eq!(data.registrations.iter().filter(|r| r.attended == Some(true)).count(), 27);
        assert_eq!(data.covariates["student-0"], vec![2.64, 23.0, 0.0, 1.0]);
        assert_eq!(attendance::weekday(data.events[1].start_us), 2, "the second class is on a Wednesday");
    }
}
