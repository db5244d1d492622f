//! `footprint bench dashboard`: what a person waits for. Loads a generated history straight
//! into the store (every user active at least once, the rest heavy-tailed over the users and
//! spread over the last 30 days), lets processing build every profile, runs a segmentation,
//! then times, in-process through the router (no socket), the dashboard's overview page and
//! every chart of `GET /api/visualizations/{type}` — p50 and p90 of `--samples` requests; then
//! trains the churn model and times seed 003's insight routes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use footprint_analytics::Consent;
use footprint_analytics::rng::SplitMix64;
use footprint_store::{CommitOptions, NewEvent};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::target::Target;
use crate::app::config::Config;
use crate::dashboard::charts::VisType;
use crate::kernel::time::DAY_US;

#[derive(Debug, clap::Args)]
pub struct DashboardBench {
    /// Users, each with at least one event.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Events in all, over the last `--days` days.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Days the events spread over (the churn model needs more than its 30-day horizon).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Requests timed per page or chart.
    #[arg(long, default_value_t = 20)]
    pub samples: usize,
    /// Run against PostgreSQL (a fresh schema of this database) instead of SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
}

const TYPES: [&str; 8] = ["page_view", "search", "view_item", "click", "add_to_cart", "purchase", "login", "share"];
const BATCH: usize = 5_000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Times `samples` answers of one request; the status and size of the last.
async fn time(router: &axum::Router, request: impl Fn() -> Request<Body>, samples: usize) -> (u16, usize, f64, f64) {
    let mut times = Vec::with_capacity(samples);
    let (mut status, mut bytes) = (0, 0);
    for _ in 0..samples.max(1) {
        let started = Instant::now();
        let response = router.clone().oneshot(request()).await.expect("the router answers");
        status = response.status().as_u16();
        bytes = response.into_body().collect().await.map_or(0, |b| b.to_bytes().len());
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (status, bytes, percentile(&times, 50.0), percentile(&times, 90.0))
}

pub async fn run(bench: DashboardBench, config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(bench.users > 0 && bench.events >= bench.users, "--events must be at least --users");
    let target = Target::start(config, bench.database_url.as_deref()).await?;
    let state = target.state.clone();
    let now = state.clock.now_us();
    let mut rng = SplitMix64::new(7);
    let options = CommitOptions { session_gap_us: 30 * 60 * 1_000_000, consent_default: Consent::GRANT_ALL };

    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..bench.events {
        // The first pass gives every user an event; then users by a Zipf-like draw.
        let user = if n < bench.users {
            n
        } else {
            let u = rng.next_f64();
            ((bench.users as f64).powf(u) as usize).saturating_sub(1).min(bench.users - 1)
        };
        let user_id = format!("u{user}");
        let event_type = TYPES[(rng.next_u64() % TYPES.len() as u64) as usize];
        let ts = now - (rng.next_f64() * f64::from(bench.days) * DAY_US as f64) as i64;
        batch.push(NewEvent {
            event_id: ulid::Ulid::new().to_string(),
            user_key: state.keys.pseudonymizer.user_key(&user_id),
            user_id,
            message_id: None,
            session_id: None,
            event_type: event_type.to_owned(),
            properties: format!(r#"{{"category":"c{}"}}"#, rng.next_u64() % 12),
            context: "{}".to_owned(),
            timestamp_us: ts,
            received_us: now,
            consent: None,
        });
        if batch.len() == BATCH || n + 1 == bench.events {
            state.store.commit_events(Arc::from(std::mem::take(&mut batch)), options).await?;
        }
    }
    let load = started.elapsed().as_secs_f64();
    let started = Instant::now();
    state.processor.catch_up(Duration::from_secs(3_600)).await?;
    let processing = started.elapsed().as_secs_f64();
    let started = Instant::now();
    crate::profiles::segments::run_recorded(&state).await.map_err(anyhow::Error::msg)?;
    let segmentation = started.elapsed().as_secs_f64();
    println!(
        "{} users, {} events on {}: stored in {load:.1} s, processed in {processing:.1} s, segmented in {segmentation:.1} s",
        bench.users,
        bench.events,
        target.backend()
    );

    let token = target.admin_token().await?;
    let router = crate::http::router(state.clone());
    let (status, bytes, p50, p90) = time(
        &router,
        || {
            Request::get("/")
                .header(header::COOKIE, format!("fp_session={token}"))
                .body(Body::empty())
                .expect("request")
        },
        bench.samples,
    )
    .await;
    println!("  {:<34} {status}  {:>9} bytes  p50 {p50:>8.1} ms  p90 {p90:>8.1} ms", "dashboard overview (/)", bytes);
    for vis in VisType::ALL {
        let path = if vis.about_a_user() {
            format!("/api/visualizations/{}?user_id=u0", vis.name())
        } else {
            format!("/api/visualizations/{}", vis.name())
        };
        let (status, bytes, p50, p90) = time(
            &router,
            || {
                Request::get(&path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("request")
            },
            bench.samples,
        )
        .await;
        println!("  {:<34} {status}  {:>9} bytes  p50 {p50:>8.1} ms  p90 {p90:>8.1} ms", vis.name(), bytes);
    }
    churn_and_insights(&state, &router, &token, &bench).await?;
    target.stop().await;
    Ok(())
}

/// Seed 003: trains the churn model (waiting for it), then times the insight routes.
async fn churn_and_insights(
    state: &crate::app::state::AppState,
    router: &axum::Router,
    token: &str,
    bench: &DashboardBench,
) -> anyhow::Result<()> {
    let started = Instant::now();
    match crate::insights::churn::start_training(state, "bench").await {
        Ok(model) => loop {
            let record = state.store.model(&model.model_id).await?.ok_or_else(|| anyhow::anyhow!("model gone"))?;
            if record.status != "training" {
                let metrics: serde_json::Value = serde_json::from_str(&record.metrics).unwrap_or_default();
                println!(
                    "churn model: {} in {:.1} s on {} user-days; validation {}",
                    record.status,
                    started.elapsed().as_secs_f64(),
                    record.rows_used,
                    metrics
                        .get("validation")
                        .map_or_else(|| record.error.clone().unwrap_or_default(), ToString::to_string)
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        },
        Err(error) => println!("churn model: not trained: {error}"),
    }
    let middle = format!("/api/v1/users/u{}/insights", bench.users / 2);
    for path in [
        "/api/v1/users/u0/insights",
        middle.as_str(),
        "/api/v1/insights/cohorts?period=week",
        "/api/v1/insights/tiers",
        "/api/v1/insights/report",
    ] {
        let (status, bytes, p50, p90) = time(
            router,
            || {
                Request::get(path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("request")
            },
            bench.samples,
        )
        .await;
        let name = if path == middle { "/api/v1/users/{median user}/insights" } else { path };
        println!("  {name:<34} {status}  {bytes:>9} bytes  p50 {p50:>8.1} ms  p90 {p90:>8.1} ms");
    }
    Ok(())
}
