//! The users: a searchable, paged list (segment, engagement, last seen on each row), and one
//! user's page — profile and declared data, activity, habits, preferences, segment, next
//! actions, consent history — with export, erasure and "log out everywhere" for those who may.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use footprint_analytics::profile::ProfileState;
use footprint_analytics::segmentation::SegmentModel;
use footprint_store::UserPageQuery;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, PageError, csrf, figures, number, or_reason, shown, time_text, time_us, urlencode};
use super::session::Viewer;
use crate::accounts::principal::Principal;
use crate::accounts::service as accounts;
use crate::app::state::AppState;
use crate::dashboard::charts::{Target, VisType};
use crate::insights::service::{self as insight_service, ChurnAnswer, UserInsights};
use crate::kernel::error::ApiError;
use crate::profiles::enriched::{self, Enriched};
use crate::profiles::segments::ClusterOrReason;
use crate::tracking::consent;
use crate::tracking::privacy::{self, user_id};

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

/// One row of the list, computed from the stored profile and the latest segmentation.
struct Row {
    user_id: String,
    username: Option<String>,
    account: String,
    segment: String,
    engagement: Option<f64>,
    events: u64,
    last_seen_us: Option<i64>,
}

async fn rows(state: &AppState, query: &ListQuery) -> Result<(Vec<Row>, Option<String>), ApiError> {
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    let users = state
        .store
        .users_page(UserPageQuery { search, after_user_id: query.after.clone(), limit: PAGE_SIZE + 1 })
        .await?;
    let more = users.len() > PAGE_SIZE as usize;
    let users = &users[..users.len().min(PAGE_SIZE as usize)];
    let keys: Vec<String> = users.iter().map(|u| u.user_key.clone()).collect();
    let profiles = state.store.profile_states(&keys).await?;
    let run = state.store.cluster_runs(1).await?.into_iter().next();
    let model: Option<SegmentModel> = run.as_ref().and_then(|r| serde_json::from_str(&r.model).ok());
    let now_us = state.clock.now_us();
    let mut rows = Vec::with_capacity(users.len());
    for user in users {
        let profile: Option<ProfileState> =
            profiles.iter().find(|p| p.user_key == user.user_key).and_then(|p| serde_json::from_str(&p.state).ok());
        let segment = match (&run, &model) {
            (Some(run), Some(model)) => match state.store.cluster_assignment(&run.run_id, &user.user_key).await? {
                Some(assignment) => usize::try_from(assignment.cluster)
                    .ok()
                    .and_then(|i| model.segments.get(i))
                    .map_or_else(|| "–".to_owned(), |s| s.name.clone()),
                None => "not in the latest run".to_owned(),
            },
            _ => "no segmentation yet".to_owned(),
        };
        let features = profile.as_ref().map(|p| p.features(now_us));
        rows.push(Row {
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            account: if user.has_account() { user.role.as_str().to_owned() } else { "tracked".to_owned() },
            segment,
            engagement: features.as_ref().map(|f| f.engagement_score),
            events: features.as_ref().map_or(0, |f| f.events),
            last_seen_us: profile.as_ref().and_then(|p| p.last_us),
        });
    }
    let next = more.then(|| users.last().map(|u| u.user_id.clone())).flatten();
    Ok((rows, next))
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    let (rows, next) = rows(&state, &query).await?;
    let q = query.q.clone().unwrap_or_default();
    let content = html! {
        form.inline method="get" action="/ui/users" role="search" {
            label { "User id or username" input type="search" name="q" value=(q); }
            button type="submit" { "Search" }
        }
        @if rows.is_empty() {
            p.muted { "No user matches." }
        } @else {
            div.scroll { table.grid #users {
                thead { tr {
                    th scope="col" { "User" } th scope="col" { "Account" } th scope="col" { "Segment" }
                    th.num scope="col" { "Engagement" } th.num scope="col" { "Events" } th scope="col" { "Last seen" }
                } }
                tbody {
                    @for row in &rows {
                        tr {
                            td {
                                a href=(format!("/ui/users/{}", urlencode(&row.user_id))) { (row.user_id) }
                                @if let Some(name) = &row.username { " " span.muted { "(" (name) ")" } }
                            }
                            td { (row.account) }
                            td { (row.segment) }
                            td.num { (row.engagement.map_or_else(|| "–".to_owned(), number)) }
                            td.num { (number(row.events as f64)) }
                            td { (row.last_seen_us.map_or_else(|| "–".to_owned(), time_us)) }
                        }
                    }
                }
            } }
        }
        nav.pager aria-label="Pages of users" {
            @if query.after.is_some() {
                a href=(format!("/ui/users?q={}", urlencode(&q))) { "First page" }
            }
            @if let Some(next) = next {
                a href=(format!("/ui/users?q={}&after={}", urlencode(&q), urlencode(&next))) { "Next page" }
            }
        }
    };
    Ok(page::page(&state, &viewer, "/ui/users", "Users", content))
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let principal = viewer.principal();
    principal.require_self_or_staff(&id)?;
    let parsed = user_id(&id)?;
    let account = accounts::get_user(&state, &id).await?;
    let target = Target { user_id: Some(id.clone()), ..Target::default() };
    let mut charts = Vec::new();
    for vis in [
        VisType::ActivityTimeline,
        VisType::HourlyActivityHeatmap,
        VisType::BehaviorPatternsHeatmap,
        VisType::UserClusterRadar,
        VisType::PreferenceRadar,
        VisType::ContentPreferencesBreakdown,
        VisType::FeatureUsagePie,
        VisType::UserEngagementBar,
        VisType::NextActionProbabilities,
    ] {
        charts.push(page::chart(&state, vis, &target).await);
    }
    let profile = enriched::enriched(&state, &id, 10).await;
    // A section of the profile, or why there is none.
    let section = |draw: &dyn Fn(&Enriched) -> Markup| match &profile {
        Ok(profile) => draw(profile),
        Err(error) => page::reason(error),
    };
    let consent = consent::status(&state, &parsed).await;
    let insights = insight_service::user_insights(&state, &principal, &id).await;
    let own = viewer.user_id == id;
    let may_erase = principal.require_self_or_admin(&id).is_ok();
    let title = match &account.username {
        Some(name) => format!("{name} ({id})"),
        None => id.clone(),
    };
    let action = |what: &str| format!("/ui/users/{}/{what}", urlencode(&id));
    let content = html! {
        (figures(&[
            ("Events", number(account.n_events as f64)),
            ("First seen", account.first_seen_at.as_deref().map_or_else(|| "–".to_owned(), time_text)),
            ("Last seen", account.last_seen_at.as_deref().map_or_else(|| "–".to_owned(), time_text)),
            ("Role", if account.has_account { account.role.as_str().to_owned() } else { "tracked only".to_owned() }),
            ("Tier", account.tier.as_str().to_owned()),
        ]))
        div.grid2 { @for chart in &charts { (chart) } }
        div.grid2 {
            section.panel {
                h2 { "Account and declared profile" }
                (shown(&account, 2))
            }
            section.panel {
                h2 { "Segment" }
                (section(&|p| segment(&p.cluster)))
                h2 { "Next actions" }
                (section(&|p| match &p.next_actions {
                    Some(next) => shown(&next.predictions, 2),
                    None => html! { p.muted { "No prediction: too little history." } },
                }))
            }
        }
        section.panel #insights {
            h2 { "Engagement, churn risk and tier" }
            (match &insights { Ok(insights) => insights_panel(insights), Err(error) => page::reason(error) })
        }
        section.panel {
            h2 { "Habits" }
            (section(&|p| shown(&p.patterns.patterns, 3)))
        }
        section.panel {
            h2 { "Preferences" }
            (section(&|p| shown(&p.preferences, 3)))
        }
        section.panel {
            h2 { "Consent history" }
            (or_reason(consent.map(|c| html! {
                p { "Now: " (shown(&c.consent, 1)) @if c.is_default { " " span.tag { "default" } } }
                @if c.history.is_empty() { p.muted { "No consent recorded." } } @else { (shown(&c.history, 2)) }
            })))
        }
        @if may_erase || own {
            section.panel #rights {
                h2 { "Data rights" }
                @if may_erase {
                    form.inline method="post" action=(action("export")) {
                        (csrf(&viewer))
                        button type="submit" { "Export everything (JSON)" }
                    }
                    form.inline method="post" action=(action("erase"))
                        data-confirm=(format!("Erase {id} and everything stored about them? This cannot be undone.")) {
                        (csrf(&viewer))
                        label { (format!("Type {id} to confirm")) input type="text" name="confirm" required autocomplete="off"; }
                        button.danger type="submit" { "Erase this user" }
                    }
                }
                @if own || viewer.is_admin() {
                    form.inline method="post" action=(action("revoke-tokens"))
                        data-confirm="End every session and access token of this account?" {
                        (csrf(&viewer))
                        button type="submit" { "Log out everywhere" }
                    }
                }
            }
        }
    };
    let current = if own { format!("/ui/users/{}", urlencode(&id)) } else { "/ui/users".to_owned() };
    Ok(page::page(&state, &viewer, &current, &title, content))
}

fn segment(cluster: &ClusterOrReason) -> Markup {
    match cluster {
        ClusterOrReason::Given(cluster) => html! {
            p { strong { (cluster.name) } " — segment " (cluster.segment_id) " of " (cluster.segments) ", "
                (number(cluster.size as f64)) " users, run of " (time_text(&cluster.run_at)) }
            (shown(&cluster.defining_traits.iter().map(|(name, value)| serde_json::json!({"trait": name, "value": value})).collect::<Vec<_>>(), 2))
        },
        ClusterOrReason::Unavailable { reason, .. } => html! { p.muted { (reason) } },
    }
}

#[derive(Deserialize)]
pub struct RightsForm {
    csrf: Option<String>,
    confirm: Option<String>,
}

/// A data-rights form's checks: this session's CSRF token, and the user themself or an admin.
fn rights(viewer: &Viewer, headers: &HeaderMap, form: &RightsForm, id: &str) -> Result<Principal, PageError> {
    viewer.check_form(headers, form.csrf.as_deref())?;
    let principal = viewer.principal();
    principal.require_self_or_admin(id)?;
    Ok(principal)
}

pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RightsForm>,
) -> Result<Response, PageError> {
    let principal = rights(&viewer, &headers, &form, &id)?;
    let body = privacy::export(&state, &user_id(&id)?, &principal.actor()).await?;
    let disposition = format!("attachment; filename=\"footprint-export-{}.json\"", id.replace(['"', '\\'], "_"));
    Ok(([(CONTENT_TYPE, "application/json".to_owned()), (CONTENT_DISPOSITION, disposition)], body).into_response())
}

pub async fn erase(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RightsForm>,
) -> Result<Response, PageError> {
    let principal = rights(&viewer, &headers, &form, &id)?;
    if form.confirm.as_deref().map(str::trim) != Some(id.as_str()) {
        return Err(ApiError::Validation(format!("confirm: type the user id {id} to erase this user")).into());
    }
    let report = privacy::erase(&state, &user_id(&id)?, &principal.actor()).await?;
    if viewer.user_id == id {
        return Ok(super::signed_out(&headers));
    }
    let content = html! {
        p.ok role="status" { (format!("{id} was erased.")) }
        (shown(&report, 3))
        p { a href="/ui/users" { "Back to the users" } }
    };
    Ok(page::page(&state, &viewer, "/ui/users", "Erased", content))
}

pub async fn revoke_tokens(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RightsForm>,
) -> Result<Response, PageError> {
    let principal = rights(&viewer, &headers, &form, &id)?;
    accounts::revoke_tokens(&state, &id, &principal.actor()).await?;
    if viewer.user_id == id {
        return Ok(super::signed_out(&headers));
    }
    Ok(super::redirect(&format!("/ui/users/{}", urlencode(&id))))
}

/// Seed 003's insights of the user: engagement and its trend, churn risk and its reasons, the
/// tier's use and the advice.
fn insights_panel(insights: &UserInsights) -> Markup {
    let trend = insights.engagement.trend.as_ref();
    let trend_text = trend.map_or_else(
        || "too few weeks".to_owned(),
        |t| match t.p_value {
            Some(p) => format!("{} ({:+.1} a week, p = {:.2})", t.direction, t.slope, p),
            None => t.direction.to_owned(),
        },
    );
    html! {
        (figures(&[
            ("Engagement", format!("{:.0} / 100", insights.engagement.score)),
            ("Weekly trend", trend_text),
            ("Events, last 30 days", number(insights.activity.events_last_30_days as f64)),
            ("Cohort", insights.cohort.as_ref().map_or_else(|| "–".to_owned(), |c| format!("week of {} ({} users)", c.cohort, c.users))),
        ]))
        @match &insights.churn_risk {
            ChurnAnswer::Given(risk) => {
                p {
                    "Churn risk over the next " (risk.horizon_days) " days: " strong { (format!("{:.0} %", 100.0 * risk.probability)) }
                    " (" (risk.level) ", " (risk.status) "); expected active days: " (format!("{:.1}", risk.expected_active_days)) "."
                }
                ul {
                    @for factor in &risk.factors {
                        li { (factor.description) " — " (factor.effect) " the risk" }
                    }
                }
            }
            ChurnAnswer::Unavailable { reason, .. } => { p.muted { (reason) } }
        }
        @if let Some(usage) = &insights.usage {
            p {
                "Tier " strong { (usage.tier.as_str()) } ": "
                (usage.limit_per_hour.map_or_else(|| "unlimited".to_owned(), |limit| format!("{limit} requests an hour")))
                "; busiest hour of the last " (usage.window_days) " days: " (number(usage.peak_hour_requests as f64)) " requests. "
                "Advice: " span.tag { (usage.advice.action) }
                @if let Some(to) = usage.advice.suggested_tier { " to " (to.as_str()) }
                " — " (usage.advice.reasons.join("; "))
            }
        }
    }
}
