//! `footprint demo`: loads a realistic generated dataset into the configured store, so that
//! every page and endpoint has something to show. Everything goes in through the services the
//! HTTP API calls, in-process: consent, event batches through the durable queue and the
//! processor (so profiles are built as from live data), seed 001's match events, seed 004's
//! import and training, the segmentation, and one account of each role.
//!
//! - `population.rs` the users (archetypes, habits) and their events; `offers.rs` the match
//!   proposals and the attendance classes: pure and deterministic for `--seed`.
//! - `load.rs` the stages, `accounts.rs` the accounts, `guard.rs` the refusal of a store that
//!   holds data, `report.rs` what is printed at the end.

mod accounts;
mod guard;
mod load;
mod offers;
mod population;
mod report;
mod seed003;

use clap::Args;
use indicatif::ProgressStyle;

use crate::app::config::Config;
use crate::app::server::App;
pub use accounts::DemoAccount;
/// The bar `load` advances (`ProgressBar::hidden()` for none).
pub use indicatif::ProgressBar;
pub use load::load;
pub use offers::UPCOMING_EVENT;
pub use report::DemoReport;

/// The seed used when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 20_240_101;

#[derive(Debug, Clone, Args)]
#[command(after_help = "The store must hold no events, tracked users nor attendance events (accounts alone, \
                        such as the configured admin, are fine) unless --force is given.\n\
                        Then: footprint serve, and log in with one of the printed accounts.")]
pub struct DemoArgs {
    /// Users to generate (each with 60 days of sessions; about 3 % never consent, so their
    /// events are not stored).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    pub users: u64,
    /// Seed of the generator: the same seed gives the same data (passwords excepted).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Load even though the store holds data already (a repeated demo's events are stored once).
    #[arg(long)]
    pub force: bool,
}

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    pub users: usize,
    pub seed: u64,
    pub force: bool,
}

impl From<&DemoArgs> for DemoOptions {
    fn from(args: &DemoArgs) -> Self {
        Self { users: usize::try_from(args.users).unwrap_or(usize::MAX), seed: args.seed, force: args.force }
    }
}

/// The progress bar the stages advance: `[stage/stages] what  [bar] done/total`.
pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), crate::cli::progress::draw_target());
    let style = ProgressStyle::with_template("{prefix:.bold} {msg:<34} [{bar:30}] {pos}/{len} ({elapsed})")
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// The command: opens the configured store, loads, prints the summary and the accounts'
/// passwords (once, on standard output only), and shuts down cleanly.
pub async fn run(args: DemoArgs, mut config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // The demo trains the churn model once its data is in; the schedule would train on half of it.
    config.insights.churn_training_interval_secs = std::time::Duration::ZERO;
    let app = App::build(config).await?;
    let bar = progress_bar();
    let outcome = load(&app.state, &DemoOptions::from(&args), &bar).await;
    bar.finish_and_clear();
    app.shutdown().await;
    let report = outcome?;
    println!("{}", report.summary(started.elapsed()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

    /// Everything the generator draws for `seed`, as text to compare.
    fn generated(seed: u64) -> String {
        let users = population::users(40, seed);
        let events: Vec<_> = users.iter().flat_map(|user| population::events(user, seed, NOW)).collect();
        let matches = offers::matches(&users, seed);
        let (classes, registrations) = offers::classes(&users, seed, NOW);
        format!("{users:?}\n{events:?}\n{matches:?}\n{classes:?}\n{registrations:?}")
    }

    #[test]
    fn the_generator_is_deterministic_for_a_seed() {
        assert_eq!(generated(DEFAULT_SEED), generated(DEFAULT_SEED));
        assert_ne!(generated(DEFAULT_SEED), generated(DEFAULT_SEED + 1), "another seed, other data");
    }

    #[test]
    fn generated_users_have_habits_archetypes_and_sixty_days_of_past_events() {
        let users = population::users(200, DEFAULT_SEED);
        let kinds: std::collections::BTreeSet<&str> = users.iter().map(|user| user.archetype.name()).collect();
        assert_eq!(kinds.len(), 4, "every archetype is drawn: {kinds:?}");
        assert!(users[0].consents && users.iter().any(|user| !user.consents));
        let events: Vec<_> = users.iter().flat_map(|user| population::events(user, DEFAULT_SEED, NOW)).collect();
        let oldest = NOW - population::DAYS * footprint_analytics::time::DAY_US;
        for event in &events {
            let at = crate::kernel::clock::parse_rfc3339(event["timestamp"].as_str().unwrap_or_default())
                .map(crate::kernel::clock::to_us)
                .unwrap_or(i64::MIN);
            assert!(oldest <= at && at < NOW, "{event}");
        }
        let purchases = events.iter().filter(|event| event["type"] == "purchase").count();
        assert!(events.len() > 200 * 20 && purchases > 0, "{} events, {purchases} purchases", events.len());
    }

    #[test]
    fn acceptance_rises_with_the_match_score() {
        let users = population::users(2_000, DEFAULT_SEED);
        let decided: Vec<(f64, bool)> = offers::matches(&users, DEFAULT_SEED)
            .iter()
            .filter_map(|story| story.decided.as_ref().map(|d| (story.proposed.match_score, d.decision)))
            .collect();
        let rate = |low: f64, high: f64| {
            let band: Vec<bool> = decided
                .iter()
                .filter(|(score, _)| (low..high).contains(score))
                .map(|(_, accepted)| *accepted)
                .collect();
            band.iter().filter(|accepted| **accepted).count() as f64 / band.len().max(1) as f64
        };
        assert!(rate(0.7, 1.01) > rate(0.0, 0.5) + 0.2, "high {} low {}", rate(0.7, 1.01), rate(0.0, 0.5));
    }
}
