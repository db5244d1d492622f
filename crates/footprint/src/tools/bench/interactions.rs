//! `footprint bench interactions`: seed 002's `POST /interactions/submit`, then
//! `GET /predict_next_action/{username}` and `GET /api/v1/users/{id}/next-actions` for users
//! whose histories hold N interactions (generated from an e-commerce funnel).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use footprint_analytics::rng::SplitMix64;
use footprint_analytics::{EventType, UserId};
use hyper::Method;

use super::load::{Call, Timing, drive};
use super::target::Target;
use super::{baseline, print_row};
use crate::app::config::Config;
use crate::app::state::AppState;
use crate::tracking::ingest::{self, ValidEvent};

#[derive(Debug, Clone, Args)]
pub struct InteractionsBench {
    /// History lengths of the users whose next action is predicted.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub interactions: Vec<usize>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    #[command(flatten)]
    pub timing: Timing,
    /// Start Footprint on this PostgreSQL database (in a fresh schema) instead of SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Also drive a trivial GET handler on the same HTTP stack first: the ceiling for reads.
    #[arg(long)]
    pub baseline: bool,
}

/// An online shop's funnel: each action and where a visitor goes next, with weights.
const FUNNEL: [(&str, &[(&str, u32)]); 8] = [
    ("connexion", &[("navigation sur la page d'accueil", 6), ("recherche de produits", 4)]),
    ("navigation sur la page d'accueil", &[("recherche de produits", 7), ("consultation de fiches produits", 3)]),
    ("recherche de produits", &[("consultation de fiches produits", 8), ("recherche de produits", 2)]),
    (
        "consultation de fiches produits",
        &[("recherche de produits", 5), ("ajout d'un produit au panier", 3), ("déconnexion", 2)],
    ),
    ("ajout d'un produit au panier", &[("passage à la caisse", 5), ("recherche de produits", 5)]),
    ("passage à la caisse", &[("confirmation de la commande", 8), ("déconnexion", 2)]),
    ("confirmation de la commande", &[("déconnexion", 10)]),
    ("déconnexion", &[("connexion", 10)]),
];

fn next_in_funnel(current: &str, rng: &mut SplitMix64) -> &'static str {
    let choices = FUNNEL.iter().find(|(action, _)| *action == current).map_or(FUNNEL[0].1, |(_, choices)| choices);
    let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
    let mut draw = (rng.next_f64() * f64::from(total)) as u32;
    for (action, weight) in choices {
        if draw < *weight {
            return action;
        }
        draw -= weight;
    }
    choices[0].0
}

/// Stores `n` funnel interactions for `user`, 30 s apart (2 h between visits), through ingestion.
async fn load_history(state: &AppState, user: &str, n: usize) -> anyhow::Result<()> {
    let user_id = UserId::parse(user)?;
    let mut rng = SplitMix64::new(n as u64);
    let mut action = "connexion";
    let mut at_us = state.clock.now_us() - i64::try_from(n).unwrap_or(0) * 600_000_000;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(Ok(ValidEvent {
            user_id: user_id.clone(),
            event_type: EventType::parse(action)?,
            properties: "{}".to_owned(),
            timestamp_us: at_us,
            session_id: None,
            message_id: None,
            context: "{}".to_owned(),
            consent: None,
        }));
        at_us += if action == "déconnexion" { 7_200_000_000 } else { 30_000_000 };
        action = next_in_funnel(action, &mut rng);
    }
    for chunk in items.chunks(1000) {
        ingest::ingest(state, chunk.to_vec()).await.map_err(|error| anyhow::anyhow!("{error}"))?;
    }
    Ok(())
}

pub async fn run(bench: InteractionsBench, base_config: &Config) -> anyhow::Result<()> {
    let plan = bench.timing.plan(bench.connections);
    let mut ceiling = None;
    if bench.baseline {
        let (address, stop) = baseline::start().await?;
        let calls =
            Arc::new(|_: usize, _: u64| Call { method: Method::GET, path: "/answer".to_owned(), body: None, units: 1 });
        let report = drive(&format!("http://{address}"), "Bearer none", &plan, calls).await?;
        let _ = stop.send(());
        print_row("GET baseline (constant JSON, same HTTP stack)", "requests/s", &report, None);
        ceiling = Some(report.units_per_sec());
    }
    let target = Target::start(base_config, bench.database_url.as_deref()).await?;
    let state = target.state.clone();
    let admin = target.admin_token().await?;
    let authorization = format!("Bearer {admin}");
    println!(
        "footprint bench interactions: {} store, {} connections, {} s measured after {} s warm-up per route",
        target.backend(),
        plan.connections,
        bench.timing.duration_secs,
        bench.timing.warmup_secs
    );

    let submit = Arc::new(|connection: usize, n: u64| {
        let action = FUNNEL[(n as usize + connection) % FUNNEL.len()].0;
        let body = serde_json::json!({"action": action, "user_id": format!("submitter-{connection}")}).to_string();
        Call { method: Method::POST, path: "/interactions/submit".to_owned(), body: Some(body), units: 1 }
    });
    let report = drive(&target.url(), &authorization, &plan, submit).await?;
    print_row("POST /interactions/submit", "interactions/s", &report, None);

    for &n in &bench.interactions {
        let user = format!("history-{n}");
        let started = std::time::Instant::now();
        load_history(&state, &user, n).await?;
        let stored = started.elapsed();
        let started = std::time::Instant::now();
        let processed = state.processor.catch_up(Duration::from_secs(600)).await?;
        let took = started.elapsed();
        println!(
            "  history of {n} interactions: stored in {:.2} s; processing then took {:.2} s for {processed} events ({:.0} events/s)",
            stored.as_secs_f64(),
            took.as_secs_f64(),
            processed as f64 / took.as_secs_f64().max(1e-9)
        );
        for path in [format!("/predict_next_action/{user}"), format!("/api/v1/users/{user}/next-actions?k=3")] {
            let route = path.clone();
            let calls = Arc::new(move |_: usize, _: u64| Call {
                method: Method::GET,
                path: route.clone(),
                body: None,
                units: 1,
            });
            let report = drive(&target.url(), &authorization, &plan, calls).await?;
            let label =
                format!("GET {} ({n} interactions)", path.split('?').next().unwrap_or(&path).replace(&user, "{user}"));
            print_row(&label, "requests/s", &report, ceiling);
        }
    }
    target.stop().await;
    Ok(())
}
