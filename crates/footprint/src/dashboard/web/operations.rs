//! Operations: liveness and readiness as `/health` and `/ready` see them, the ingestion queue,
//! the store, the models serving, this node's background jobs, and (for admins) the latest
//! entries of the audit log.

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::page::{self, PageError, figures, number, or_reason, shown, time_us};
use super::session::Viewer;
use crate::app::state::AppState;
use crate::attendance::views;

pub async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    let writer = state.ingest.writer_alive();
    let store = state.store.ping().await;
    let ready = writer && store.is_ok();
    let users = state.store.count_users().await?;
    let ml = views::health(&state, true).await;
    let jobs = state.tasks.records();
    let audit = if viewer.is_admin() { Some(state.store.audit_log(20).await?) } else { None };
    let content = html! {
        (figures(&[
            ("Version", env!("CARGO_PKG_VERSION").to_owned()),
            ("Health", "ok".to_owned()),
            ("Readiness", if ready { "ready".to_owned() } else { "not ready".to_owned() }),
            ("Store", state.store.backend().to_owned()),
            ("Queue depth", number(state.metrics.queue_depth.get() as f64)),
            ("Events per second", number(state.metrics.accepted_per_second())),
            ("Users known", number(users.users as f64)),
        ]))
        @if !writer { p.error role="alert" { "The ingestion writer has stopped: restart this node." } }
        @if let Err(error) = &store { p.error role="alert" { "The store does not answer: " (error.to_string()) } }
        div.grid2 {
            section.panel {
                h2 { "Background jobs on this node" }
                @if jobs.is_empty() { p.muted { "No job has run yet." } } @else { (shown(&jobs, 2)) }
            }
            section.panel {
                h2 { "Models and services" }
                (or_reason(ml.map(|health| shown(&health, 2))))
            }
        }
        @if let Some(audit) = &audit {
            section.panel {
                h2 { "Audit log (latest 20)" }
                div.scroll { table.grid {
                    thead { tr { th scope="col" { "At" } th scope="col" { "Action" } th scope="col" { "Actor" }
                        th scope="col" { "Subject" } th scope="col" { "Outcome" } } }
                    tbody {
                        @for entry in audit {
                            tr {
                                td { (time_us(entry.at_us)) } td { (entry.action) }
                                td { (entry.actor.as_deref().unwrap_or("–")) } td { (entry.subject.as_deref().unwrap_or("–")) }
                                td { (entry.outcome) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(page::page(&state, &viewer, "/ui/operations", "Operations", content))
}
