//! `footprint bench attendance`: seed 004's `/api/ml` routes on a generated attendance history
//! (weekly classes with planted effects) of a chosen size: import and training times, then
//! throughput and latency of predictions (one event, a batch), factors, anomalies and insights.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use footprint_analytics::attendance::synthetic;
use hyper::Method;
use serde_json::json;

use super::load::{Call, Timing, drive};
use super::print_row;
use super::target::Target;
use crate::app::config::Config;
use crate::attendance::import as attendance;
use crate::attendance::model as attendance_model;
use crate::kernel::clock::rfc3339;

use crate::kernel::time::DAY_US;

#[derive(Debug, Clone, Args)]
pub struct AttendanceBench {
    /// Weeks of history (three classes a week).
    #[arg(long, default_value_t = 52)]
    pub weeks: i64,
    /// Members; each registers to a class with probability ½ (1 300 members × 52 weeks ≈ 100 000
    /// registrations).
    #[arg(long, default_value_t = 1300)]
    pub members: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    #[command(flatten)]
    pub timing: Timing,
    /// Start Footprint on this PostgreSQL database (in a fresh schema) instead of SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
}

pub async fn run(bench: AttendanceBench, base_config: &Config) -> anyhow::Result<()> {
    let mut config = base_config.clone();
    // Every analysis is measured, not turned away.
    config.ml.max_concurrent_analyses = bench.connections.max(1);
    config.ml.analysis_timeout_secs = Duration::from_secs(600);
    let target = Target::start(&config, bench.database_url.as_deref()).await?;
    let state = target.state.clone();
    let admin = target.admin_token().await?;
    let authorization = format!("Bearer {admin}");

    // The history ends last week; one class of the coming week has the members' registrations.
    let (events, registrations) = synthetic::weekly_classes_of(bench.weeks, bench.members, 42);
    let shift = state.clock.now_us() - (synthetic::MONDAY + bench.weeks * 7 * DAY_US);
    let mut lines = attendance::import_lines(&events, &registrations, "Class", shift);
    let next = state.clock.now_us() + 2 * DAY_US;
    let upcoming: Vec<_> = (0..bench.members)
        .step_by(2)
        .map(|user| json!({"user_id": format!("u{user}"), "registered_at": rfc3339(next - 3 * DAY_US)}))
        .collect();
    lines.push(
        json!({"id": "next", "name": "Class", "type": "class", "start": rfc3339(next), "duration_minutes": 60,
               "price": 10.0, "capacity": bench.members, "registrations": upcoming})
        .to_string(),
    );
    let started = Instant::now();
    let mut imported = 0;
    for chunk in lines.chunks(50) {
        let report = attendance::import(&state, &chunk.join("\n"), attendance::ImportMode::Insert, "bench")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(report.rejected.is_empty(), "import rejected lines: {:?}", report.rejected);
        imported += report.registrations_imported;
    }
    println!(
        "footprint bench attendance: {} store; {} events, {imported} registrations imported in {:.2} s ({:.0} registrations/s)",
        target.backend(),
        lines.len(),
        started.elapsed().as_secs_f64(),
        imported as f64 / started.elapsed().as_secs_f64().max(1e-9)
    );

    let started = Instant::now();
    let model = attendance_model::start_training(&state, attendance_model::TrainRequest::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let trained = loop {
        anyhow::ensure!(Instant::now() < deadline, "training did not finish in 10 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let record = state.store.model(&model.model_id).await?.ok_or_else(|| anyhow::anyhow!("the model vanished"))?;
        if record.status != "training" {
            break record;
        }
    };
    anyhow::ensure!(trained.status == "ready", "training failed: {:?}", trained.error);
    let metrics: serde_json::Value = serde_json::from_str(&trained.metrics)?;
    println!(
        "  training on {} registrations: {:.2} s (validation AUC {:.4})",
        trained.rows_used,
        started.elapsed().as_secs_f64(),
        metrics["validation"]["roc_auc"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "  {} connections, {} s measured after {} s warm-up per route",
        bench.connections, bench.timing.duration_secs, bench.timing.warmup_secs
    );

    let plan = bench.timing.plan(bench.connections);
    let last_weeks: Vec<String> =
        (bench.weeks.saturating_sub(4)..bench.weeks).flat_map(|w| [0, 1, 3].map(|d| format!("e{w}-{d}"))).collect();
    let registrants = bench.members.div_ceil(2);
    let batch_label = format!("POST /api/ml/batch-predict ({} events)", last_weeks.len());
    let routes = [
        ("POST /api/ml/predict-attendance", "/api/ml/predict-attendance", json!({"eventId": "next"}), registrants),
        (
            batch_label.as_str(),
            "/api/ml/batch-predict",
            json!({"eventIds": last_weeks, "predictionType": "aggregate"}),
            0,
        ),
        ("POST /api/ml/analyze-factors", "/api/ml/analyze-factors", json!({}), 0),
        ("POST /api/ml/anomalies (last 30 days)", "/api/ml/anomalies", json!({"sensitivity": "medium"}), 0),
        ("POST /api/ml/insights (last quarter)", "/api/ml/insights", json!({"timeframe": "last_quarter"}), 0),
    ];
    for (label, path, body, people) in routes {
        let body = body.to_string();
        let path = path.to_owned();
        let calls = Arc::new(move |_: usize, _: u64| Call {
            method: Method::POST,
            path: path.clone(),
            body: Some(body.clone()),
            units: people.max(1) as u64,
        });
        let report = drive(&target.url(), &authorization, &plan, calls).await?;
        print_row(label, if people > 0 { "people/s" } else { "answers/s" }, &report, None);
    }
    target.stop().await;
    Ok(())
}
