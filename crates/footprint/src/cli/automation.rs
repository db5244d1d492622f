//! `footprint automation provision-users | analyze-tiers | generate-analytics | run-all` (seed
//! 003's `user_automation.py`): each a recorded run of the job (trigger `cli`), printed as a
//! table or, with `--json`, as JSON.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::config::Config;
use crate::app::server::App;
use crate::jobs::automation::{self, Job, Output};

#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    /// Create or update accounts in bulk from a CSV (with a header) or JSON-lines file; running
    /// the same file again changes nothing. Accounts without a password get an invitation in
    /// the outbox; passwords are never printed.
    #[command(after_help = "Example:\n  footprint automation provision-users --file users.csv")]
    ProvisionUsers(ProvisionArgs),
    /// Every account's usage against its tier's limits, engagement and churn risk, and who should
    /// move up or down a tier, with the reasons.
    #[command(after_help = "Example:\n  footprint automation analyze-tiers --json")]
    AnalyzeTiers(OutputArgs),
    /// The report of the last 24 hours: usage per tier, logins and security events, churn-risk
    /// distribution, segment sizes (kept with the run).
    #[command(after_help = "Example:\n  footprint automation generate-analytics")]
    GenerateAnalytics(OutputArgs),
    /// provision-users (when a file is given or configured), analyze-tiers and generate-analytics.
    #[command(after_help = "Example:\n  footprint automation run-all --file users.jsonl --json")]
    RunAll(ProvisionArgs),
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// users.csv or users.jsonl (default: automation.provisioning_file).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: AutomationCommand, config: Config) -> anyhow::Result<()> {
    let (jobs, file, json) = match command {
        AutomationCommand::ProvisionUsers(args) => {
            if args.file.is_none() && config.automation.provisioning_file.is_none() {
                anyhow::bail!(
                    "provision-users: give --file users.csv|users.jsonl (or set automation.provisioning_file)"
                );
            }
            (vec![Job::Provisioning], args.file, args.json)
        }
        AutomationCommand::AnalyzeTiers(args) => (vec![Job::Tiers], None, args.json),
        AutomationCommand::GenerateAnalytics(args) => (vec![Job::Analytics], None, args.json),
        AutomationCommand::RunAll(args) => (vec![Job::Provisioning, Job::Tiers, Job::Analytics], args.file, args.json),
    };
    if let Some(path) = &file {
        anyhow::ensure!(path.is_file(), "{}: no such file", path.display());
    }
    let app = App::build(config).await?;
    let mut failed = Vec::new();
    let mut outputs = serde_json::Map::new();
    for job in jobs {
        let bar = match (job, &file) {
            (Job::Provisioning, Some(path)) if !json => progress_bar(path)?,
            _ => ProgressBar::hidden(),
        };
        let advance = |done: usize| bar.set_position(done as u64);
        let ran = automation::run(&app.state, job, "cli", None, file.as_deref(), &advance).await;
        bar.finish_and_clear();
        let ran = match ran {
            Ok(Some(ran)) => ran,
            // Runs by hand have no slot: they are always recorded.
            Ok(None) => {
                failed.push(format!("{}: the run was not recorded", job.name()));
                continue;
            }
            Err(error) => {
                failed.push(format!("{}: {error}", job.name()));
                continue;
            }
        };
        match ran.output {
            Ok(output) => {
                if json {
                    outputs.insert(job.name().to_owned(), serde_json::to_value(&output)?);
                } else {
                    print(&output, &ran.run.run_id);
                }
            }
            Err(error) => failed.push(format!("{}: {error}", job.name())),
        }
    }
    app.shutdown().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(outputs))?);
    }
    anyhow::ensure!(failed.is_empty(), "{}", failed.join("; "));
    Ok(())
}

fn progress_bar(path: &Path) -> anyhow::Result<ProgressBar> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let lines = std::io::BufReader::new(file).lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).count();
    let rows =
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) { lines.saturating_sub(1) } else { lines };
    let bar = ProgressBar::with_draw_target(Some(rows as u64), crate::cli::progress::draw_target());
    bar.set_style(
        ProgressStyle::with_template("provisioning {bar:40} {pos}/{len} rows ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Ok(bar)
}

fn print(output: &Output, run_id: &str) {
    match output {
        Output::Provisioning(report) => {
            println!(
                "provision-users ({run_id}): {} rows — {} created, {} updated, {} unchanged, {} invitations sent to the outbox, {} rejected",
                report.rows,
                report.created,
                report.updated,
                report.unchanged,
                report.invitations,
                report.rejected.len()
            );
            for rejection in &report.rejected {
                println!("  line {}: {}", rejection.line, rejection.reason);
            }
        }
        Output::Tiers(analysis) => {
            println!(
                "analyze-tiers ({run_id}): {} accounts, usage over the last {} days",
                analysis.accounts, analysis.window_days
            );
            println!(
                "  {:<11} {:>8} {:>10} {:>8} {:>8} {:>9} {:>5}",
                "tier", "accounts", "requests", "limited", "upgrade", "downgrade", "keep"
            );
            for (tier, line) in &analysis.by_tier {
                println!(
                    "  {tier:<11} {:>8} {:>10} {:>8} {:>8} {:>9} {:>5}",
                    line.accounts,
                    line.requests_in_window,
                    line.limited_in_window,
                    line.upgrade,
                    line.downgrade,
                    line.keep
                );
            }
            if analysis.candidates.is_empty() {
                println!("  no account should change tier");
            }
            for candidate in &analysis.candidates {
                let to = candidate.advice.suggested_tier.map_or("-".to_owned(), |tier| tier.as_str().to_owned());
                println!(
                    "  {:<9} {} ({} → {to}): {}",
                    candidate.advice.action,
                    candidate.user_id,
                    candidate.tier.as_str(),
                    candidate.advice.reasons.join("; ")
                );
            }
        }
        Output::Analytics(report) => {
            println!("generate-analytics ({run_id}): {} … {}", report.from, report.to);
            println!(
                "  users {} (accounts {}); {}: {} events from {} active users; today so far: {} events from {} users",
                report.users,
                report.accounts,
                report.yesterday,
                report.events_yesterday,
                report.active_users_yesterday,
                report.events_today,
                report.active_users_today
            );
            for (tier, line) in &report.usage_per_tier {
                println!(
                    "  {tier:<11} {:>6} accounts {:>9} requests {:>6} limited",
                    line.accounts, line.requests, line.limited
                );
            }
            let security = &report.security;
            println!(
                "  logins: {} succeeded, {} failed, {} second steps, {} lockouts",
                security.logins_succeeded, security.logins_failed, security.second_steps_required, security.lockouts
            );
            let churn = &report.churn;
            match churn.mean_probability {
                Some(mean) => println!(
                    "  churn within {} days: {} users scored, mean {:.2}, {} above 0.7; by tenth: {:?}",
                    churn.horizon_days, churn.users_scored, mean, churn.high_risk, churn.histogram
                ),
                None => println!("  churn: {}", churn.note.as_deref().unwrap_or("nothing scored")),
            }
            for segment in &report.segments {
                println!("  segment {} {}: {} users", segment.segment_id, segment.name, segment.size);
            }
        }
        Output::Cleanup(report) => {
            println!("cleanup ({run_id}): {} events removed", report.removed_events);
        }
        Output::Training(started) => println!("churn training ({run_id}): {started}"),
        Output::Skipped(reason) => println!("skipped ({run_id}): {reason}"),
    }
}
