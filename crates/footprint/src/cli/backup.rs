//! `footprint backup --out FILE` and `footprint restore FILE`: a consistent copy of the
//! embedded store taken while the server runs, and its restoration into an empty data
//! directory. The instance's secrets (`secrets.json`: the token and encryption keys) are copied
//! to a file of their own beside the backup, since the copy is unreadable without them and a
//! copy of the database alone should not carry them. With PostgreSQL both commands refuse and
//! point to `pg_dump`/`pg_restore`. A bar (plain lines when standard error is not a terminal)
//! follows the copies as they grow.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use footprint_store::{BackupReport, StoreLocation};

use crate::app::config::Config;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup's file (its derived sibling `<stem>-derived.db` and the secrets
    /// `<stem>-secrets.json` are written beside it); none may exist.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Leave the instance's secrets out (restore then needs them from the configuration).
    #[arg(long)]
    pub without_secrets: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `footprint backup --out`.
    pub file: PathBuf,
}

/// The secrets file that goes with a backup file.
pub fn secrets_beside(file: &Path) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "footprint".into(), |stem| stem.to_string_lossy().into_owned());
    file.with_file_name(format!("{stem}-secrets.json"))
}

/// The embedded store's file, or the advice for PostgreSQL.
fn sqlite_file(config: &Config, command: &str) -> anyhow::Result<PathBuf> {
    let url = config.store.database_url.as_ref().map(|secret| secret.expose().to_owned());
    match StoreLocation::resolve(url.as_deref(), &config.store.data_dir)? {
        StoreLocation::Sqlite(path) => Ok(path),
        StoreLocation::Postgres(_) => anyhow::bail!(
            "footprint {command} copies the embedded SQLite store; this instance uses PostgreSQL: use \
             `pg_dump --format=custom --file=footprint.dump \"$DATABASE_URL\"` (consistent while Footprint runs) and \
             `pg_restore --dbname=\"$DATABASE_URL\" footprint.dump` into an empty database (see the README)"
        ),
    }
}

fn print(report: &BackupReport, action: &str) {
    println!(
        "{action} {} and {} ({:.1} MiB): {} events, processed up to event {}; both files pass their integrity check",
        report.primary.display(),
        report.derived.display(),
        report.bytes as f64 / 1_048_576.0,
        report.events,
        report.watermark
    );
}

pub fn backup(config: &Config, args: &BackupArgs) -> anyhow::Result<BackupReport> {
    let source = sqlite_file(config, "backup")?;
    let secrets_out = secrets_beside(&args.out);
    if !args.without_secrets && secrets_out.exists() {
        anyhow::bail!("{} exists: choose a new file (nothing is overwritten)", secrets_out.display());
    }
    let report = with_progress(&source, &args.out, || footprint_store::backup_sqlite(&source, &args.out))
        .context("the backup failed")?;
    print(&report, "wrote");
    let secrets = config.store.data_dir.join("secrets.json");
    if !args.without_secrets && secrets.exists() {
        copy_private(&secrets, &secrets_out)?;
        println!(
            "wrote {} (mode 0600): the instance's token and encryption keys; keep it apart from the backup",
            secrets_out.display()
        );
    }
    Ok(report)
}

pub fn restore(config: &Config, args: &RestoreArgs) -> anyhow::Result<BackupReport> {
    let target = sqlite_file(config, "restore")?;
    let secrets_in = secrets_beside(&args.file);
    let secrets = config.store.data_dir.join("secrets.json");
    if secrets_in.exists() && secrets.exists() {
        anyhow::bail!("{} exists: restore into an empty data directory", secrets.display());
    }
    let report = with_progress(&args.file, &target, || footprint_store::restore_sqlite(&args.file, &target))
        .with_context(|| {
            format!("the restore into {} failed (it restores into an empty data directory only)", target.display())
        })?;
    print(&report, "restored");
    if secrets_in.exists() {
        copy_private(&secrets_in, &secrets)?;
        println!("restored the instance's secrets to {}", secrets.display());
    } else {
        println!(
            "no {} beside the backup: give the same FOOTPRINT_JWT_SECRET and FOOTPRINT_ENCRYPTION_KEY as the backed-up instance",
            secrets_in.display()
        );
    }
    Ok(report)
}

/// Runs `copy` of the store file `from` (and its derived and log siblings) to `to` with a progress bar on
/// standard error: the bytes the copies hold so far against the sizes of the originals. The
/// copy is one SQLite backup step per file (a consistent snapshot), so its progress is read from
/// the files as they grow.
fn with_progress<T>(from: &Path, to: &Path, copy: impl FnOnce() -> T) -> T {
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
    let with_wal = |path: &Path| {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        size(path) + size(Path::new(&wal))
    };
    let sources = footprint_store::sqlite_files(from);
    let targets = footprint_store::sqlite_files(to);
    // The recent writes are still in the WAL files: the copy holds them too.
    let total: u64 = sources.iter().map(|path| with_wal(path)).sum();
    // Shown only for a copy that lasts: a small store is copied before a line would help.
    let bar = indicatif::ProgressBar::with_draw_target(Some(total.max(1)), indicatif::ProgressDrawTarget::hidden());
    bar.set_style(
        indicatif::ProgressStyle::with_template("copied {bytes} of about {total_bytes} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut shown = false;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if !shown && started.elapsed() >= std::time::Duration::from_secs(1) {
                    bar.set_draw_target(crate::cli::progress::draw_target());
                    shown = true;
                }
                bar.set_position(targets.iter().map(|path| size(path)).sum::<u64>().min(total));
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let result = copy();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    bar.finish_and_clear();
    result
}

/// Copies a file readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(to).with_context(|| format!("cannot create {}", to.display()))?;
    std::io::Write::write_all(&mut file, &bytes).with_context(|| format!("cannot write {}", to.display()))?;
    file.sync_all()?;
    Ok(())
}
