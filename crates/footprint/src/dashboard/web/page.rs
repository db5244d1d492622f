//! The frame of every dashboard page (navigation by role, footer), and the small pieces pages
//! are made of: inline charts, figures, tables of what a service returned, times and numbers.

use axum::response::{IntoResponse, Response};
use footprint_charts::{Chart, Size, Theme};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

pub use super::error::{PageError, urlencode};
use super::error::{head, html_headers};
use super::session::Viewer;
use crate::app::state::AppState;
use crate::dashboard::charts::{self, Target, VisType};
use crate::kernel::error::ApiError;

/// Who sees a page in the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    Staff,
    Admins,
    Everyone,
}

/// The pages of the navigation (the empty path is the viewer's own page).
const PAGES: [(&str, &str, Audience); 9] = [
    ("/", "Overview", Audience::Staff),
    ("/ui/users", "Users", Audience::Staff),
    ("/ui/segments", "Segments", Audience::Staff),
    ("/ui/matching", "Matching", Audience::Staff),
    ("/ui/attendance", "Attendance", Audience::Staff),
    ("/ui/insights", "Insights", Audience::Staff),
    ("/ui/models", "Models", Audience::Admins),
    ("/ui/operations", "Operations", Audience::Staff),
    ("", "My page", Audience::Everyone),
];

fn sees(viewer: &Viewer, audience: Audience) -> bool {
    match audience {
        Audience::Staff => viewer.is_staff(),
        Audience::Admins => viewer.is_admin(),
        Audience::Everyone => true,
    }
}

/// A whole page: the navigation for the viewer's role, the title, the content.
pub fn page(state: &AppState, viewer: &Viewer, current: &str, title: &str, content: Markup) -> Response {
    let dark = state.config.visualization.chart_theme == "dark";
    let own = format!("/ui/users/{}", urlencode(&viewer.user_id));
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body class=[dark.then_some("dark")] {
                a.skip href="#content" { "Skip to the content" }
                header.top {
                    a.brand href=(if viewer.is_staff() { "/" } else { own.as_str() }) { "Footprint" }
                    nav aria-label="Pages" {
                        ul {
                            @for (path, label, audience) in PAGES {
                                @if sees(viewer, audience) {
                                    @let path = if path.is_empty() { own.as_str() } else { path };
                                    li { a href=(path) aria-current=[(path == current).then_some("page")] { (label) } }
                                }
                            }
                        }
                    }
                    form.logout method="post" action="/ui/logout" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        span.who { (viewer.name()) " · " (viewer.role.as_str()) }
                        button type="submit" { "Log out" }
                    }
                }
                main #content {
                    h1 { (title) }
                    (content)
                }
                footer { "Footprint " (env!("CARGO_PKG_VERSION")) " · " (state.store.backend()) }
            }
        }
    };
    (html_headers(), body.into_string()).into_response()
}

/// A page outside the session (the login form).
pub fn bare_page(title: &str, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body { main.narrow #content { (content) } }
        }
    }
    .into_string()
}

/// The chart size pages draw at (the SVG scales to the column's width).
pub const CHART: Size = Size { width: 720, height: 400 };
/// The size of the same chart on a phone-width screen, so that its text stays readable there
/// (the stylesheet shows one of the two).
pub const PHONE_CHART: Size = Size { width: 400, height: 320 };

/// A chart drawn inline; a chart that cannot be drawn says why in its place.
pub async fn chart(state: &AppState, vis: VisType, target: &Target) -> Markup {
    match charts::chart(state, vis, target).await {
        Ok(drawn) => figure(state, &drawn),
        Err(error) => unavailable(vis.name(), &error),
    }
}

/// A chart built by the page itself.
pub fn figure(state: &AppState, chart: &Chart) -> Markup {
    let theme = Theme::named(&state.config.visualization.chart_theme).unwrap_or_else(Theme::light);
    html! {
        figure.chart data-has-data=(chart.has_data()) {
            div.wide { (PreEscaped(chart.to_svg(&theme, CHART))) }
            div.phone { (PreEscaped(chart.to_svg(&theme, PHONE_CHART))) }
        }
    }
}

fn unavailable(name: &str, error: &ApiError) -> Markup {
    if let ApiError::Internal(source) = error {
        tracing::error!(error = %source, chart = name, "a dashboard chart failed");
    }
    html! {
        figure.chart.unavailable data-has-data="false" {
            figcaption { strong { (name) } }
            p { (error.to_string()) }
        }
    }
}

/// A row of headline figures.
pub fn figures(items: &[(&str, String)]) -> Markup {
    html! {
        dl.figures {
            @for (label, value) in items {
                div { dt { (label) } dd { (value) } }
            }
        }
    }
}

/// A row of headline figures, each with a line of context under it.
pub fn noted_figures(items: &[(&str, String, String)]) -> Markup {
    html! {
        dl.figures {
            @for (label, value, note) in items {
                div { dt { (label) } dd { (value) } dd.note-line { (note) } }
            }
        }
    }
}

/// A number as people read it: integers with thin grouping, others to 3 significant digits.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let digits = format!("{}", value.abs() as i64);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push('\u{202f}');
            }
            grouped.push(c);
        }
        return if value < 0.0 { format!("-{grouped}") } else { grouped };
    }
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.decimals$}")
}

pub fn percent(part: f64, whole: f64) -> String {
    if whole <= 0.0 { "–".to_owned() } else { format!("{:.1} %", 100.0 * part / whole) }
}

/// A time in microseconds as `2026-12-02 14:05 UTC`.
pub fn time_us(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map_or_else(|_| "–".to_owned(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// An RFC 3339 time as `2026-12-02 14:05 UTC`.
pub fn time_text(text: &str) -> String {
    text.parse::<jiff::Timestamp>().map_or_else(|_| text.to_owned(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// `snake_case` or `camelCase` as words.
fn label(key: &str) -> String {
    let mut words = String::new();
    for (i, c) in key.chars().enumerate() {
        if c == '_' {
            words.push(' ');
        } else if c.is_uppercase() && i > 0 {
            words.push(' ');
            words.extend(c.to_lowercase());
        } else if i == 0 {
            words.extend(c.to_uppercase());
        } else {
            words.push(c);
        }
    }
    words
}

/// One value as text (times and numbers as people read them).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "–".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        // Times as people read them.
        Value::String(s) if s.len() >= 20 && s.as_bytes()[10] == b'T' => time_text(s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a service returned, as tables: an object as label/value rows, a list of objects as a
/// table with a column per field, a list of values inline. Deeper levels than `depth` are
/// shown as compact JSON.
pub fn data(value: &Value, depth: usize) -> Markup {
    match value {
        Value::Object(map) if depth > 0 => html! {
            div.scroll {
                table.kv {
                    tbody {
                        @for (key, item) in map {
                            tr { th scope="row" { (label(key)) } td { (data(item, depth - 1)) } }
                        }
                    }
                }
            }
        },
        Value::Array(items) if depth > 0 && !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut columns: Vec<&String> = Vec::new();
            for item in items {
                for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !columns.contains(&key) {
                        columns.push(key);
                    }
                }
            }
            html! {
                div.scroll {
                    table.grid {
                        thead { tr { @for column in &columns { th scope="col" { (label(column)) } } } }
                        tbody {
                            @for item in items {
                                tr { @for column in &columns { td { (data(&item[column.as_str()], depth - 1)) } } }
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            if items.is_empty() {
                html! { "none" }
            } else {
                html! { (items.iter().map(scalar).collect::<Vec<_>>().join(", ")) }
            }
        }
        Value::Object(_) | Value::Array(_) => html! { (inline(value)) },
        other => html! { (scalar(other)) },
    }
}

/// Most items a list shows inline.
const INLINE_ITEMS: usize = 8;

/// A value in one line: an object as `label value · label value`, a list as its first items
/// (features with an importance, the most important first).
fn inline(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| format!("{} {}", label(key).to_lowercase(), inline(item)))
            .collect::<Vec<_>>()
            .join(" · "),
        Value::Array(items) => {
            let mut items: Vec<&Value> = items.iter().collect();
            let ranked = items.iter().all(|i| i.get("feature").is_some() && i["importance"].is_number());
            if ranked {
                items.sort_by(|a, b| {
                    b["importance"].as_f64().unwrap_or(0.0).total_cmp(&a["importance"].as_f64().unwrap_or(0.0))
                });
            }
            let shown: Vec<String> = items
                .iter()
                .take(INLINE_ITEMS)
                .map(|item| {
                    if ranked {
                        format!("{} {}", scalar(&item["feature"]), scalar(&item["importance"]))
                    } else if item.is_object() {
                        format!("({})", inline(item))
                    } else {
                        inline(item)
                    }
                })
                .collect();
            let more = items.len().saturating_sub(INLINE_ITEMS);
            if more > 0 { format!("{}, … {more} more", shown.join(", ")) } else { shown.join(", ") }
        }
        other => scalar(other),
    }
}

/// A serialisable answer as tables.
pub fn shown(value: &impl serde::Serialize, depth: usize) -> Markup {
    match serde_json::to_value(value) {
        Ok(value) => data(&value, depth),
        Err(error) => html! { p { "cannot be shown: " (error.to_string()) } },
    }
}

/// A section whose content failed says why, and the rest of the page is still shown.
pub fn or_reason(result: Result<Markup, ApiError>) -> Markup {
    result.unwrap_or_else(|error| reason(&error))
}

/// Why a section is missing (an internal cause is logged, not shown).
pub fn reason(error: &ApiError) -> Markup {
    if let ApiError::Internal(source) = error {
        tracing::error!(error = %source, "a dashboard section failed");
    }
    html! { p.reason { (error.to_string()) } }
}

/// The hidden CSRF field of a form.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(1234567.0), "1\u{202f}234\u{202f}567");
        assert_eq!(number(-1200.0), "-1\u{202f}200");
        assert_eq!(number(0.12345), "0.123");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(f64::NAN), "–");
        assert_eq!(percent(1.0, 3.0), "33.3 %");
        assert_eq!(percent(1.0, 0.0), "–");
    }

    #[test]
    fn keys_become_labels_and_values_are_escaped() {
        assert_eq!(label("next_cursor"), "Next cursor");
        assert_eq!(label("timeRange"), "Time range");
        let html =
            data(&serde_json::json!({"name": "<script>x</script>", "rows": [{"a": 1}, {"b": true}]}), 3).into_string();
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<th scope=\"col\">A</th><th scope=\"col\">B</th>"), "{html}");
        let ranked = serde_json::json!({"fit": {"n": 3, "auc": 0.5}, "importance": [
            {"feature": "a", "importance": 0.1}, {"feature": "b", "importance": 0.7}]});
        let html = data(&ranked, 1).into_string();
        assert!(html.contains("n 3 · auc 0.500"), "{html}");
        assert!(html.contains("b 0.700, a 0.100"), "the most important first: {html}");
    }
}
