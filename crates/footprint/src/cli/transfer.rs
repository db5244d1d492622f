//! `footprint export` and `footprint import`: events (and accounts, attendance records and
//! consents) as JSON lines or events as CSV, streamed, with a progress bar on standard error and
//! a final report (`tracking::transfer`).

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;

use crate::app::config::Config;
use crate::app::server::App;
use crate::cli::progress::bar;
use crate::tracking::transfer::{self, ExportFilter};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the JSON lines (standard output without it).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only events of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Only events from this time on (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Every user's consent records first (`"kind": "consent"` lines): an import into an instance
    /// whose default is deny then keeps what was consented to.
    #[arg(long)]
    pub with_consents: bool,
    /// Every account first (`"kind": "account"` lines: username, e-mail, role, tier, declared
    /// profile and password hash, so that they log in on the instance that imports them).
    #[arg(long)]
    pub with_accounts: bool,
    /// The attendance records: organisations' declarations and events with their registrations.
    #[arg(long)]
    pub with_attendance: bool,
    /// Accounts, attendance records and consents with the events: the whole instance's data.
    #[arg(long)]
    pub all: bool,
    /// jsonl (the default) or csv (a header row, then one event a row; `properties` and
    /// `context` as JSON text).
    #[arg(long, value_enum, default_value_t = FileFormat::Jsonl)]
    pub format: FileFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSON lines of events, as `footprint export` writes them or as clients send them, or CSV
    /// (`-`: standard input; `.gz` is inflated).
    pub file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// jsonl or csv; by default, csv for a `.csv` or `.csv.gz` file, jsonl otherwise.
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
}

fn instant(field: &str, text: Option<&str>) -> anyhow::Result<Option<i64>> {
    text.map(|t| crate::kernel::time::instant(field, t).map_err(|e| anyhow::anyhow!("--{field}: {e}"))).transpose()
}

pub async fn export(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    let filter = ExportFilter {
        event_type: args.event_type.clone(),
        from_us: instant("from", args.from.as_deref())?,
        to_us: instant("to", args.to.as_deref())?,
        consents: args.with_consents || args.all,
        accounts: args.with_accounts || args.all,
        attendance: args.with_attendance || args.all,
        csv: args.format == FileFormat::Csv,
    };
    let mut out: Box<dyn Write + Send> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create_new(path)
                .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let app = App::build_for_command(config).await?;
    let bar = bar("exported {pos} lines ({per_sec}, {elapsed})");
    let result = transfer::export_events(&app.state, &filter, &mut out, &|n| bar.set_position(n)).await;
    bar.finish_and_clear();
    app.shutdown().await;
    let written = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("exported {written} lines");
    Ok(())
}

pub async fn import(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let mut input: Box<dyn std::io::BufRead + Send> = if args.file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
        if args.file.extension().is_some_and(|e| e == "gz") {
            Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
        } else {
            Box::new(BufReader::new(file))
        }
    };
    let app = App::build_for_command(config).await?;
    let bar = if args.json { ProgressBar::hidden() } else { bar("imported {pos} lines ({per_sec}, {elapsed})") };
    let name = args.file.to_string_lossy().to_ascii_lowercase();
    let csv =
        args.format.map_or(name.ends_with(".csv") || name.ends_with(".csv.gz"), |format| format == FileFormat::Csv);
    let progress = |n: usize| bar.set_position(n as u64);
    let result = if csv {
        transfer::import_csv(&app.state, &mut input, transfer::Storing::BulkIfEmpty, &progress).await
    } else {
        transfer::import_events(&app.state, &mut input, transfer::Storing::BulkIfEmpty, &progress).await
    };
    bar.finish_and_clear();
    app.shutdown().await;
    let report = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut records = String::new();
        for (count, what) in [
            (report.accounts, "accounts"),
            (report.organizations, "organisations"),
            (report.attendance_events, "attendance events"),
            (report.registrations, "registrations"),
            (report.consents, "consent records"),
        ] {
            if count > 0 {
                records.push_str(&format!(", {count} {what}"));
            }
        }
        println!(
            "{} lines: {} events imported{records}, {} duplicates (already stored), {} not collected, {} refused",
            report.lines, report.imported, report.duplicates, report.not_collected, report.rejected_count
        );
        for refused in &report.rejected {
            println!("  line {}: {}", refused.line, refused.reason);
        }
    }
    Ok(())
}
