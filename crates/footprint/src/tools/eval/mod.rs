//! `footprint eval`: offline evaluations on public datasets, printed as tables (or JSON).

mod attendance;
mod attendance_data;
mod churn;
mod churn_table;
mod clustering;
mod sequences;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use footprint_analytics::evaluation::{Split, evaluate_next_action, split_train_test};
use footprint_analytics::sequence::SequenceConfig;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Next-action prediction: most frequent, first-order Markov and Footprint's variable-order model.
    #[command(
        after_help = "Example:\n  footprint eval next-action --file ../shared/data/bpic2012.csv.gz --split random"
    )]
    NextAction(NextActionEval),
    /// k-means on a CSV's numeric columns, k chosen by silhouette, scored against a label column (adjusted Rand index).
    #[command(after_help = "Example:\n  footprint eval clustering --csv customers.csv --label segment --log")]
    Clustering(clustering::ClusteringEval),
    /// Attendance prediction on a time-ordered split: ROC AUC, Brier score and calibration of
    /// Footprint's model against a plain logistic regression on the static features.
    #[command(
        after_help = "Example:\n  footprint eval attendance --generated --seed 42\n  footprint eval attendance --csv appointments.csv --write-rows rows.csv"
    )]
    Attendance(attendance::AttendanceEval),
    /// Churn on a transaction log split by date (calibration, then holdout): ROC AUC, Brier, log
    /// loss, calibration and expected holdout transactions of Footprint's model next to RFM and
    /// recency-only baselines; with --label, the classifier alone on a table of given features.
    #[command(
        after_help = "Example:\n  footprint eval churn --file cdnow.txt --calibration-end 1997-09-30 --holdout-end 1998-06-30"
    )]
    Churn(ChurnEval),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SequenceFormat {
    /// An event log with a case column, an activity column and a time column (plain or .gz).
    Csv,
    /// One sequence per line of space-separated numbers (UCI MSNBC `.seq`, plain or .gz).
    Msnbc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitMode {
    /// The earliest 2/3 of the sequences train, the latest 1/3 test (for a format without
    /// timestamps, MSNBC: the first 2/3 in file order).
    Chronological,
    /// A shuffled 2/3 – 1/3 split (see --seed).
    Random,
}

#[derive(Debug, Args)]
pub struct NextActionEval {
    /// The sequences: an event log (one row per event; a case or user is one sequence) or MSNBC lines
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = SequenceFormat::Csv)]
    pub format: SequenceFormat,
    #[arg(long, value_enum, default_value_t = SplitMode::Chronological)]
    pub split: SplitMode,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Longest context of the global model.
    #[arg(long, default_value_t = SequenceConfig::default().max_order)]
    pub max_order: usize,
    /// Longest context of a user's (here: a test sequence's) own model.
    #[arg(long, default_value_t = SequenceConfig::default().user_max_order)]
    pub user_max_order: usize,
    /// Extra evidence a global context needs before it outweighs the shorter ones.
    #[arg(long, default_value_t = SequenceConfig::default().global_prior)]
    pub global_prior: f64,
    /// Evidence a user's own counts need before they outweigh the global model.
    #[arg(long, default_value_t = SequenceConfig::default().user_prior)]
    pub user_prior: f64,
    /// Leave the gap between the last two actions out of the contexts.
    #[arg(long)]
    pub no_time_gaps: bool,
    /// Leave the last action's actor (--actor-column) out of the contexts.
    #[arg(long)]
    pub no_actors: bool,
    /// CSV columns.
    #[arg(long, default_value = "case_id")]
    pub case_column: String,
    #[arg(long, default_value = "activity")]
    pub activity_column: String,
    #[arg(long, default_value = "timestamp")]
    pub time_column: String,
    /// Appended to the activity when present and not empty (`activity-lifecycle`); "" to ignore.
    #[arg(long, default_value = "lifecycle")]
    pub lifecycle_column: String,
    /// Who performed each event (a person, a team, a system), when the log says; "" to ignore.
    /// Footprint reads the same from an event's `properties.actor`.
    #[arg(long, default_value = "resource")]
    pub actor_column: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChurnEval {
    /// A transaction log (customer, date[, quantity, amount]; comma- or whitespace-separated,
    /// with or without a header, plain or .gz), or with `--label` a CSV of features per customer.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// The role of each column, comma-separated: customer, date, quantity, amount or - (ignored).
    /// Default: read from the header's names, else the first column is the customer, the first
    /// column holding dates is the date, and the columns after it are quantity and amount (one
    /// column after the date: the amount).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// The last day of the calibration period (YYYY-MM-DD or YYYYMMDD); default: halfway
    /// between the first and last dates of the file.
    #[arg(long)]
    pub calibration_end: Option<String>,
    /// The last day of the holdout period; default: the last date of the file.
    #[arg(long)]
    pub holdout_end: Option<String>,
    /// How far back the features look, in days; default: the calibration period's length (at
    /// most 365).
    #[arg(long)]
    pub history_days: Option<u32>,
    /// L2 penalty of the logistic regressions.
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Futures simulated per customer for the expected number of holdout transactions (0: skip).
    #[arg(long, default_value_t = 100)]
    pub paths: usize,
    /// A table of given features instead of a transaction log: the 0/1 column to predict. The
    /// rows whose 0-based index is 2 modulo 3 are held out, the rest train.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Whether the sequences of this format carry times (the MSNBC lines do not).
fn sequences_timed(format: SequenceFormat) -> bool {
    matches!(format, SequenceFormat::Csv)
}

/// A spinner on standard error while an evaluation runs, naming the phase under way and the
/// time taken (plain lines when standard error is not a terminal); cleared when dropped, before
/// the report is printed.
struct Phases(indicatif::ProgressBar);

impl Phases {
    fn start(phase: String) -> Self {
        let bar = crate::cli::progress::bar("{spinner} {msg} ({elapsed})");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar.set_message(phase);
        Self(bar)
    }

    fn next(&self, phase: String) {
        self.0.set_message(phase);
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::NextAction(eval) => next_action(&eval),
        EvalCommand::Clustering(eval) => clustering::run(&eval),
        EvalCommand::Attendance(eval) => attendance::run(&eval),
        EvalCommand::Churn(eval) => match &eval.label {
            Some(label) => churn_table::run(&eval, label),
            None => churn::run(&eval),
        },
    }
}

fn next_action(eval: &NextActionEval) -> anyhow::Result<()> {
    let phases = Phases::start(format!("reading {}", eval.file.display()));
    let sequences = match eval.format {
        SequenceFormat::Csv => sequences::load_csv(&eval.file, &sequences::CsvColumns::from(eval))?,
        SequenceFormat::Msnbc => sequences::load_msnbc(&eval.file)?,
    };
    let config = SequenceConfig {
        max_order: eval.max_order,
        user_max_order: eval.user_max_order,
        time_gaps: !eval.no_time_gaps,
        actors: !eval.no_actors,
        global_prior: eval.global_prior,
        user_prior: eval.user_prior,
    };
    let split = match eval.split {
        SplitMode::Chronological => Split::Chronological,
        SplitMode::Random => Split::Random(eval.seed),
    };
    let (train, test) = split_train_test(sequences, split, 2.0 / 3.0);
    phases.next(format!(
        "training on {} sequences, predicting every action of {} (and the baselines)",
        train.len(),
        test.len()
    ));
    let report = evaluate_next_action(&train, &test, &config);
    drop(phases);
    if eval.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let timed = sequences_timed(eval.format);
    println!(
        "footprint eval next-action: {} — {} sequences ({} train, {} test, {:?} split), {} distinct actions, {} predictions ({} first actions)",
        eval.file.display(),
        report.train_sequences + report.test_sequences,
        report.train_sequences,
        report.test_sequences,
        eval.split,
        report.distinct_actions,
        report.variable_order.all.predictions,
        report.variable_order.first.predictions,
    );
    match (eval.split, timed) {
        (SplitMode::Chronological, true) => {
            println!("chronological: the sequences that started first train, the later ones test")
        }
        (SplitMode::Chronological, false) => println!(
            "chronological: this format has no timestamps, so it means file order — the first 2/3 of the sequences in the file train, the rest test"
        ),
        (SplitMode::Random, _) => println!("random: a shuffled 2/3 – 1/3 split (seed {})", eval.seed),
    }
    println!(
        "variable-order model: global order ≤ {} (prior {}), user order ≤ {} (prior {}), time gaps {}, actors {}",
        config.max_order,
        config.global_prior,
        config.user_max_order,
        config.user_prior,
        if config.time_gaps && timed { "on" } else { "off" },
        match (config.actors, report.with_actors) {
            (false, _) => "off".to_owned(),
            (true, 0) => "on, but no event names one".to_owned(),
            (true, n) => format!("on ({} of the sequences name them, column {:?})", n, eval.actor_column),
        }
    );
    println!(
        "Kneser-Ney: interpolated, modified (3 discounts per order), order {} chosen among {}–{} on the last fifth of the training sequences",
        report.kneser_ney_order,
        footprint_analytics::evaluation::KN_ORDERS.start(),
        footprint_analytics::evaluation::KN_ORDERS.end()
    );
    println!(
        "{:<30} {:>7} {:>7}   {:>13}   {:>7} {:>7}",
        "model", "top-1", "top-3", "first: top-1", "rest: top-1", "top-3"
    );
    let kneser_ney = format!("Kneser-Ney (order {})", report.kneser_ney_order);
    for (name, accuracy) in [
        ("most frequent", report.most_frequent),
        ("first-order Markov", report.first_order),
        (kneser_ney.as_str(), report.kneser_ney),
        ("variable-order (Footprint)", report.variable_order),
    ] {
        println!(
            "{name:<30} {:>7.4} {:>7.4}   {:>13.4}   {:>11.4} {:>7.4}",
            accuracy.all.top1, accuracy.all.top3, accuracy.first.top1, accuracy.rest.top1, accuracy.rest.top3
        );
    }
    Ok(())
}
