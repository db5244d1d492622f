//! `footprint eval churn`: the churn model on a transaction log, calibrated on the days up to a
//! cut-off and checked on the holdout after it (customer-base analysis: will the customer buy
//! again, how often); or, with `--label`, the classifier alone on a table of given features.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};

use anyhow::{Context, bail};
use footprint_analytics::churn::{self, ActiveDay, ChurnConfig, ChurnModel, FeatureSet, HazardKind, History};
use footprint_analytics::logistic::{self, BinaryMetrics, CalibrationBin};
use serde::Serialize;

use super::ChurnEval;
use super::sequences::open;
use crate::kernel::time::{day_text, parse_day};

pub fn run(eval: &ChurnEval) -> anyhow::Result<()> {
    let phases = super::Phases::start("reading, training and testing".to_owned());
    let report = evaluate(eval)?;
    drop(phases);
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print(&report);
    Ok(())
}

/// One transaction.
#[derive(Debug, Clone, PartialEq)]
struct Transaction {
    customer: String,
    day: i64,
    amount: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Customer,
    Date,
    Quantity,
    Amount,
    Ignored,
}

fn role(name: &str) -> anyhow::Result<Role> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "customer" => Role::Customer,
        "date" => Role::Date,
        "quantity" => Role::Quantity,
        "amount" => Role::Amount,
        "-" | "" => Role::Ignored,
        other => bail!("--columns: {other} is not one of customer, date, quantity, amount, -"),
    })
}

fn split_line(line: &str) -> Vec<String> {
    if line.contains(',') {
        line.split(',').map(|field| field.trim().trim_matches('"').to_owned()).collect()
    } else {
        line.split_whitespace().map(str::to_owned).collect()
    }
}

/// The roles of a header's names, when it names a customer and a date.
fn roles_from_header(fields: &[String]) -> Option<Vec<Role>> {
    let roles: Vec<Role> = fields
        .iter()
        .map(|name| {
            let name = name.to_ascii_lowercase();
            if ["customer", "cust", "user", "client", "member"].iter().any(|word| name.contains(word)) {
                Role::Customer
            } else if ["date", "time", "day"].iter().any(|word| name.contains(word)) {
                Role::Date
            } else if ["quantity", "qty", "units", "count", "cds"].iter().any(|word| name.contains(word)) {
                Role::Quantity
            } else if ["amount", "price", "dollar", "revenue", "total", "value", "spend", "sales"]
                .iter()
                .any(|word| name.contains(word))
            {
                Role::Amount
            } else {
                Role::Ignored
            }
        })
        .collect();
    let customers = roles.iter().filter(|r| **r == Role::Customer).count();
    let dates = roles.iter().filter(|r| **r == Role::Date).count();
    (customers == 1 && dates == 1).then_some(roles)
}

/// The roles of a first data line: customer first, the first date, then quantity and amount.
fn roles_from_data(fields: &[String]) -> Option<Vec<Role>> {
    let date = fields.iter().skip(1).position(|field| parse_day(field).is_some())? + 1;
    let mut roles = vec![Role::Ignored; fields.len()];
    roles[0] = Role::Customer;
    roles[date] = Role::Date;
    match fields.len() - date - 1 {
        0 => {}
        1 => roles[date + 1] = Role::Amount,
        _ => {
            roles[date + 1] = Role::Quantity;
            roles[date + 2] = Role::Amount;
        }
    }
    Some(roles)
}

fn load(eval: &ChurnEval) -> anyhow::Result<(Vec<Transaction>, Vec<Role>)> {
    let reader = BufReader::new(open(&eval.file)?);
    let mut roles: Option<Vec<Role>> = if eval.columns.is_empty() {
        None
    } else {
        Some(eval.columns.iter().map(|name| role(name)).collect::<anyhow::Result<_>>()?)
    };
    let mut transactions = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{}: line {}", eval.file.display(), index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_line(&line);
        if roles.is_none() {
            roles = roles_from_header(&fields);
            if roles.is_some() {
                continue;
            }
            roles = roles_from_data(&fields);
            if roles.is_none() {
                bail!(
                    "{}: line {}: no date found (YYYYMMDD or YYYY-MM-DD); name the columns with --columns",
                    eval.file.display(),
                    index + 1
                );
            }
        }
        let Some(roles) = roles.as_ref() else { continue };
        let field = |wanted: Role| roles.iter().position(|r| *r == wanted).and_then(|at| fields.get(at));
        let (Some(customer), Some(date)) = (field(Role::Customer), field(Role::Date)) else {
            bail!("{}: line {}: expected {} columns", eval.file.display(), index + 1, roles.len());
        };
        let Some(day) = parse_day(date) else {
            // A header line of a file whose roles were given.
            if index == 0 {
                continue;
            }
            bail!("{}: line {}: {date:?} is not a date", eval.file.display(), index + 1);
        };
        let amount = match field(Role::Amount) {
            Some(text) => Some(text.parse::<f64>().with_context(|| {
                format!("{}: line {}: amount {text:?} is not a number", eval.file.display(), index + 1)
            })?),
            None => None,
        };
        transactions.push(Transaction { customer: customer.clone(), day, amount });
    }
    anyhow::ensure!(!transactions.is_empty(), "{}: no transactions", eval.file.display());
    Ok((transactions, roles.unwrap_or_default()))
}

#[derive(Debug, Serialize)]
struct Scores {
    model: String,
    features: Vec<String>,
    /// Of "any transaction in the holdout".
    metrics: Option<BinaryMetrics>,
    calibration: Vec<CalibrationBin>,
    /// Σ over customers of the simulated expected active days in the holdout.
    expected_holdout_transactions: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    columns: Vec<String>,
    transactions: usize,
    /// Customers whose first transaction falls in the calibration period.
    customers: usize,
    first_day: String,
    calibration_end: String,
    holdout_end: String,
    history_days: u32,
    /// Days with a transaction, per customer (same-day transactions merged).
    calibration_transactions: usize,
    holdout_transactions: usize,
    customers_buying_in_holdout: usize,
    training_user_days: usize,
    /// The validation inside the calibration period that chose Footprint's hazard family.
    family_choice: FamilyChoice,
    models: Vec<Scores>,
}

#[derive(Debug, Serialize)]
struct FamilyChoice {
    chosen: HazardKind,
    cutoff: String,
    horizon_days: u32,
    customers: usize,
    brier: Option<f64>,
}

fn evaluate(eval: &ChurnEval) -> anyhow::Result<Report> {
    let (transactions, roles) = load(eval)?;
    let first = transactions.iter().map(|t| t.day).min().unwrap_or(0);
    let last = transactions.iter().map(|t| t.day).max().unwrap_or(0);
    let day_of = |name: &str, given: &Option<String>, default: i64| -> anyhow::Result<i64> {
        match given {
            Some(text) => parse_day(text).with_context(|| format!("--{name}: {text:?} is not a date")),
            None => Ok(default),
        }
    };
    let calibration_end = day_of("calibration-end", &eval.calibration_end, first + (last - first) / 2)?;
    let holdout_end = day_of("holdout-end", &eval.holdout_end, last)?;
    anyhow::ensure!(
        first <= calibration_end && calibration_end < holdout_end,
        "the calibration period must start with the data and end before the holdout ends"
    );
    // Day numbers: the holdout is [cutoff, end).
    let (cutoff, end) = (calibration_end + 1, holdout_end + 1);
    let horizon = u32::try_from(end - cutoff).context("holdout too long")?;
    let history_days = eval.history_days.unwrap_or(u32::try_from((cutoff - first).clamp(28, 365)).unwrap_or(365));

    let mut by_customer: BTreeMap<&str, Vec<&Transaction>> = BTreeMap::new();
    for transaction in &transactions {
        by_customer.entry(transaction.customer.as_str()).or_default().push(transaction);
    }
    let mut histories = Vec::new();
    for list in by_customer.values() {
        let first_day = list.iter().map(|t| t.day).min().unwrap_or(0);
        if first_day >= cutoff || first_day < first {
            continue;
        }
        let mut days: HashMap<i64, ActiveDay> = HashMap::new();
        for t in list.iter().filter(|t| t.day < end) {
            let entry = days.entry(t.day).or_insert(ActiveDay {
                day: t.day,
                events: 0,
                sessions: 1,
                session_seconds: 0.0,
                amount: 0.0,
            });
            entry.events += 1;
            entry.amount += t.amount.unwrap_or(0.0);
        }
        histories.push(History::new(first_day, days.into_values().collect()));
    }
    let calibration: Vec<History> = histories.iter().map(|h| h.until(cutoff)).collect();
    let holdout_transactions: usize = histories.iter().map(|h| h.active_between(cutoff, end)).sum();
    let buyers = histories.iter().filter(|h| h.active_between(cutoff, end) > 0).count();
    let repeat_in_calibration: usize = calibration.iter().map(|h| h.active_between(first, cutoff)).sum();

    let config = ChurnConfig {
        horizon_days: horizon,
        history_days,
        l2: eval.l2,
        max_training_rows: 5_000_000,
        ..ChurnConfig::default()
    };
    // Footprint chooses the hazard's family as the server does, on the calibration period alone:
    // both are fitted before a validation cut-off inside it and scored over the days after it.
    let choice_horizon = horizon.min(u32::try_from((cutoff - first) / 3).unwrap_or(horizon)).max(1);
    let choice = churn::train(
        &calibration,
        first + 1,
        cutoff,
        &ChurnConfig { horizon_days: choice_horizon, min_users: 1, ..config.clone() },
        FeatureSet::Full,
    )
    .context("choosing the hazard's family on the calibration period")?;
    let chosen = choice.model.hazard.kind();
    let mut models = Vec::new();
    let mut training_user_days = 0;
    for (name, set, kind) in [
        ("footprint, logistic hazard", FeatureSet::Full, HazardKind::Logistic),
        ("footprint, gradient-boosted trees hazard", FeatureSet::Full, HazardKind::Trees),
        ("rfm logistic (recency, frequency, tenure, monetary)", FeatureSet::Rfm, HazardKind::Logistic),
        ("recency only, logistic", FeatureSet::Recency, HazardKind::Logistic),
    ] {
        let model = churn::fit(&calibration, first + 1, cutoff, &config, set, kind)?;
        training_user_days = model.rows;
        let label =
            if set == FeatureSet::Full && kind == chosen { format!("{name} [chosen]") } else { name.to_owned() };
        models.push(score(&label, &model, &histories, &calibration, cutoff, end, horizon, eval.paths));
    }
    Ok(Report {
        file: eval.file.display().to_string(),
        columns: roles.iter().map(|r| format!("{r:?}").to_lowercase()).collect(),
        transactions: transactions.len(),
        customers: histories.len(),
        first_day: day_text(first),
        calibration_end: day_text(calibration_end),
        holdout_end: day_text(holdout_end),
        history_days,
        calibration_transactions: repeat_in_calibration,
        holdout_transactions,
        customers_buying_in_holdout: buyers,
        training_user_days,
        family_choice: FamilyChoice {
            chosen,
            cutoff: day_text(choice.validation.cutoff_day),
            horizon_days: choice_horizon,
            customers: choice.validation.users,
            brier: choice.validation.metrics.map(|m| m.brier),
        },
        models,
    })
}

#[allow(clippy::too_many_arguments)]
fn score(
    name: &str,
    model: &ChurnModel,
    histories: &[History],
    calibration: &[History],
    cutoff: i64,
    end: i64,
    horizon: u32,
    paths: usize,
) -> Scores {
    let mut probabilities = Vec::with_capacity(histories.len());
    let mut labels = Vec::with_capacity(histories.len());
    let mut expected = 0.0;
    for (index, (history, known)) in histories.iter().zip(calibration).enumerate() {
        let stays_away = model.churn_probability(known, cutoff, horizon).unwrap_or(1.0);
        probabilities.push(1.0 - stays_away);
        labels.push(history.active_between(cutoff, end) > 0);
        if paths > 0 {
            expected += model.expected_active_days(known, cutoff, horizon, paths, index as u64);
        }
    }
    Scores {
        model: name.to_owned(),
        features: model.feature_names.clone(),
        metrics: BinaryMetrics::compute(&probabilities, &labels),
        calibration: logistic::calibration(&probabilities, &labels, 10),
        expected_holdout_transactions: (paths > 0).then_some(expected),
    }
}

fn print(report: &Report) {
    println!(
        "footprint eval churn: {} — {} transactions, {} customers first seen by {}",
        report.file, report.transactions, report.customers, report.calibration_end
    );
    println!(
        "calibration {} … {} ({} transaction days), holdout … {}: {} transaction days, {} customers buying ({:.1} %)",
        report.first_day,
        report.calibration_end,
        report.calibration_transactions,
        report.holdout_end,
        report.holdout_transactions,
        report.customers_buying_in_holdout,
        100.0 * report.customers_buying_in_holdout as f64 / report.customers.max(1) as f64
    );
    println!(
        "features look back {} days; the daily hazard fitted on {} customer-days; same-day transactions merged",
        report.history_days, report.training_user_days
    );
    let choice = &report.family_choice;
    println!(
        "family chosen inside the calibration period: {:?} (lower Brier for churn within {} days of {}, {} customers active before it)\n",
        choice.chosen, choice.horizon_days, choice.cutoff, choice.customers
    );
    println!(
        "P(any transaction in the holdout)                  ROC AUC   Brier   log loss   expected holdout transactions (actual {})",
        report.holdout_transactions
    );
    for scores in &report.models {
        let m = scores.metrics.as_ref();
        println!(
            "{:<52} {:>6}  {:>6}  {:>8}   {}",
            scores.model,
            m.and_then(|m| m.roc_auc).map_or("–".to_owned(), |auc| format!("{auc:.3}")),
            m.map_or("–".to_owned(), |m| format!("{:.4}", m.brier)),
            m.map_or("–".to_owned(), |m| format!("{:.4}", m.log_loss)),
            scores.expected_holdout_transactions.map_or("–".to_owned(), |e| format!("{e:.0}")),
        );
    }
    if let Some(footprint) = report.models.iter().find(|m| m.model.ends_with("[chosen]")) {
        println!("\ncalibration of {} (predicted vs observed share buying in the holdout)", footprint.model);
        println!("  bin          n   predicted   observed");
        for bin in footprint.calibration.iter().filter(|bin| bin.count > 0) {
            println!(
                "  {:.1}–{:.1}  {:>6}   {:>8.3}   {:>8.3}",
                bin.low,
                bin.high,
                bin.count,
                bin.mean_predicted.unwrap_or(f64::NAN),
                bin.observed_rate.unwrap_or(f64::NAN)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_recognised_from_a_header_or_the_data() {
        let fields = |line: &str| split_line(line);
        assert_eq!(
            roles_from_data(&fields(" 00004 0001 19970101  2   29.33")),
            Some(vec![Role::Customer, Role::Ignored, Role::Date, Role::Quantity, Role::Amount])
        );
        assert_eq!(
            roles_from_data(&fields("c1,2020-01-05,12.5")),
            Some(vec![Role::Customer, Role::Date, Role::Amount])
        );
        assert_eq!(
            roles_from_header(&fields("customer_id,order_date,amount")),
            Some(vec![Role::Customer, Role::Date, Role::Amount])
        );
        assert_eq!(roles_from_header(&fields("a,b,c")), None);
    }
}
