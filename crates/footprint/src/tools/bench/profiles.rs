//! `footprint bench profiles`: a full recompute of every profile (features and preferences),
//! every user's habits and the segmentation, from generated events, with wall time per stage
//! and the process's peak memory. Pure computation on both cores: no store, no HTTP.
//!
//! The events are generated user by user, never all at once. Activity per user is heavy-tailed
//! (a log-normal number of sessions: most users come a few times, a few come daily), sessions
//! follow a daily rhythm (peaks at 9h, 13h and 20h UTC) and hold a geometric number of events
//! (mean 6), actions follow a browse → view → cart → purchase funnel, and categories and items
//! are Zipf-distributed over 30 categories and 5 000 items.

use std::time::Instant;

use clap::Args;
use footprint_analytics::patterns::{self, PatternConfig};
use footprint_analytics::profile::{ProfileConfig, ProfileEvent, ProfileState};
use footprint_analytics::rng::SplitMix64;
use footprint_analytics::segmentation::{self, SegmentationConfig};

#[derive(Debug, Clone, Args)]
pub struct ProfilesBench {
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Total events (spread over users by their activity).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

use crate::kernel::time::DAY_US;
const ACTIONS: [&str; 6] = ["page_view", "search", "view_item", "click", "add_to_cart", "purchase"];

fn normal(rng: &mut SplitMix64) -> f64 {
    let (u, v) = (rng.next_f64().max(f64::MIN_POSITIVE), rng.next_f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Zipf-like rank in 0..n (s ≈ 1) by inverse transform on a harmonic approximation.
fn zipf(rng: &mut SplitMix64, n: usize) -> usize {
    let h = (n as f64).ln() + 0.5772;
    let target = rng.next_f64() * h;
    ((target - 0.5772).exp().floor() as usize).min(n - 1)
}

/// One user's events, `budget` of them, over the 90 days before `now`.
fn user_events(user: usize, budget: usize, now: i64) -> Vec<ProfileEvent> {
    let mut rng = SplitMix64::new(user as u64 * 7919 + 1);
    let mut events = Vec::with_capacity(budget);
    let favourite = zipf(&mut rng, 30);
    while events.len() < budget {
        let day = now - (rng.next_f64() * 90.0) as i64 * DAY_US;
        let peak = [9.0, 13.0, 20.0][rng.below(3)];
        let hour = (peak + normal(&mut rng) * 1.5).clamp(0.0, 23.9);
        let mut at = footprint_analytics::time::day_start(day) + (hour * crate::kernel::time::HOUR_US as f64) as i64;
        let mut step = 0usize;
        loop {
            let category = if rng.next_f64() < 0.6 { favourite } else { zipf(&mut rng, 30) };
            let item = zipf(&mut rng, 5_000);
            events.push(ProfileEvent {
                event_type: ACTIONS[step.min(ACTIONS.len() - 1)].to_owned(),
                timestamp_us: at,
                category: Some(format!("category-{category}")),
                feature: (step == 1).then(|| "search_box".to_owned()),
                item: (step >= 2).then(|| format!("item-{item}")),
            });
            at += ((rng.next_f64() * 120.0) as i64 + 10) * 1_000_000;
            step = if rng.next_f64() < 0.55 { step + 1 } else { step.saturating_sub(1) };
            if events.len() >= budget || rng.next_f64() < 1.0 / 6.0 {
                break;
            }
        }
    }
    events
}

/// Events per user: log-normal weights scaled to the total.
fn budgets(users: usize, total: usize) -> Vec<usize> {
    let mut rng = SplitMix64::new(99);
    let weights: Vec<f64> = (0..users).map(|_| (normal(&mut rng) * 1.2).exp()).collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| ((w / sum) * total as f64).round().max(1.0) as usize).collect()
}

/// What one worker thread computed: the users' trait vectors, the events seen, and CPU seconds
/// spent generating events, on profiles and on patterns.
struct WorkerResult {
    vectors: Vec<Vec<f64>>,
    events: usize,
    generate: f64,
    profile: f64,
    pattern: f64,
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(bench: &ProfilesBench) -> anyhow::Result<()> {
    anyhow::ensure!(bench.users >= 3 && bench.events >= bench.users, "at least 3 users and one event per user");
    let threads = bench.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)).max(1);
    let now = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
    let budgets = budgets(bench.users, bench.events);
    let profile_config = ProfileConfig::default();
    let pattern_config = PatternConfig::default();
    let started = Instant::now();
    let chunk = bench.users.div_ceil(threads);
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = budgets
            .chunks(chunk)
            .enumerate()
            .map(|(part, budgets)| {
                let (profile_config, pattern_config) = (&profile_config, &pattern_config);
                scope.spawn(move || {
                    let (mut generate, mut profile, mut pattern) = (0.0, 0.0, 0.0);
                    let mut vectors = Vec::with_capacity(budgets.len());
                    let mut events_seen = 0;
                    for (offset, budget) in budgets.iter().enumerate() {
                        let clock = Instant::now();
                        let events = user_events(part * chunk + offset, *budget, now);
                        generate += clock.elapsed().as_secs_f64();
                        events_seen += events.len();

                        let clock = Instant::now();
                        let mut state = ProfileState::default();
                        for event in &events {
                            state.observe(event, profile_config);
                        }
                        let features = state.features(now);
                        let preferences = state.preferences(now, profile_config, 10);
                        std::hint::black_box(&preferences);
                        vectors.push(segmentation::traits(&features));
                        profile += clock.elapsed().as_secs_f64();

                        let clock = Instant::now();
                        let actions: Vec<(String, i64)> =
                            events.into_iter().map(|event| (event.event_type, event.timestamp_us)).collect();
                        std::hint::black_box(patterns::detect(&actions, now, pattern_config));
                        pattern += clock.elapsed().as_secs_f64();
                    }
                    WorkerResult { vectors, events: events_seen, generate, profile, pattern }
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("bench worker")).collect()
    });
    let per_user = started.elapsed().as_secs_f64();
    let events: usize = results.iter().map(|r| r.events).sum();
    let sum = |pick: fn(&WorkerResult) -> f64| results.iter().map(pick).sum::<f64>();
    let (generate, profile, pattern) = (sum(|r| r.generate), sum(|r| r.profile), sum(|r| r.pattern));
    let vectors: Vec<Vec<f64>> = results.into_iter().flat_map(|r| r.vectors).collect();

    let clock = Instant::now();
    let segmentation = segmentation::segment(&vectors, &SegmentationConfig::default())
        .ok_or_else(|| anyhow::anyhow!("too few users to segment"))?;
    let clustering = clock.elapsed().as_secs_f64();
    let total = started.elapsed().as_secs_f64();

    println!("footprint bench profiles: {} users, {} events, {threads} threads", bench.users, events);
    println!(
        "  per-user stages (wall {per_user:.2} s; CPU seconds summed over threads): generating events {generate:.2}, profiles (features + preferences) {profile:.2}, patterns {pattern:.2}"
    );
    println!(
        "  segmentation: {clustering:.2} s (k = {} chosen among {:?}, silhouette {:.3})",
        segmentation.model.k,
        segmentation.model.silhouettes.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        segmentation.model.silhouette
    );
    println!(
        "  total {total:.2} s wall, of which generating the events {:.2} s (CPU, not part of a recompute); peak RSS {}",
        generate,
        peak_rss_mib().map_or("unknown".to_owned(), |mib| format!("{mib:.0} MiB"))
    );
    Ok(())
}
