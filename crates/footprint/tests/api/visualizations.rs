//! Seed 000's charts over HTTP: each type's marks against the data behind it, the panel for too
//! little data, PNG and the dark theme, and who may see what.

use footprint_analytics::Role;
use reqwest::StatusCode;

use crate::helpers::{TestApp, body, error_code};
use crate::profiles::{now_us, profiling_app, segmented_events, track_all};

async fn svg(app: &TestApp, path: &str) -> String {
    let response = app.get(path, Some(&app.admin_token)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], "image/svg+xml; charset=utf-8");
    response.text().await.unwrap()
}

fn marks(svg: &str, kind: &str) -> usize {
    svg.matches(&format!("class=\"mark {kind}")).count()
}

fn sum(svg: &str) -> f64 {
    svg.split("data-value=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].parse::<f64>().unwrap()).sum()
}

fn is_panel(svg: &str) -> bool {
    svg.contains("class=\"empty\"") && svg.matches("class=\"mark").count() == 0
}

async fn charts_are_drawn_from_the_data(postgres: bool) {
    let app = profiling_app(postgres, |config| config.processing.segmentation_growth = 0.0).await;
    // Before anything is known: the panel, not an empty or invented chart.
    assert!(is_panel(&svg(&app, "/api/visualizations/cluster_scatter").await));
    assert!(is_panel(&svg(&app, "/api/visualizations/hourly_activity_heatmap?user_id=ana").await));

    track_all(&app, &segmented_events(now_us())).await;
    let run = footprint::profiles::segments::UserClustering::new(app.state.clone()).update_clusters().await.unwrap();
    let users = usize::try_from(run.n_users).unwrap();

    let scatter = svg(&app, "/api/visualizations/cluster_scatter?user_id=ana").await;
    assert_eq!(marks(&scatter, "point"), users, "a point per segmented user");
    assert_eq!(marks(&scatter, "point highlight"), 1);
    let comparison = svg(&app, "/api/visualizations/cluster_comparison").await;
    assert_eq!(marks(&comparison, "cell"), run.k as usize * 13, "every segment on every trait");
    let only = svg(&app, "/api/visualizations/cluster_scatter?cluster_id=cluster_1").await;
    assert_eq!(marks(&only, "point"), 3, "the second segment's three heavy users");

    // heavy-0: 5 events a day (page views and clicks 5 minutes apart) on 7 days.
    let hours = svg(&app, "/api/visualizations/hourly_activity_heatmap?user_id=heavy-0").await;
    assert_eq!(sum(&hours), 35.0, "the cells add up to the user's events");
    let timeline = svg(&app, "/api/visualizations/activity_timeline?user_id=heavy-0").await;
    assert_eq!(sum(&timeline), 35.0);
    assert_eq!(marks(&timeline, "point"), 14, "two event types over seven days");
    let transitions = svg(&app, "/api/visualizations/behavior_patterns_heatmap?user_id=heavy-0").await;
    assert_eq!(sum(&transitions), 28.0, "four transitions a day; days apart are not transitions");
    let pie = svg(&app, "/api/visualizations/feature_usage_pie?user_id=heavy-0").await;
    assert_eq!(marks(&pie, "slice"), 2);
    assert_eq!(sum(&pie), 35.0);
    let breakdown = svg(&app, "/api/visualizations/content_preferences_breakdown?user_id=heavy-0").await;
    assert_eq!(marks(&breakdown, "bar"), 2, "hats and scarves");
    let radar = svg(&app, "/api/visualizations/preference_radar?user_id=heavy-0").await;
    assert!(is_panel(&radar) && radar.contains("three axes"), "two categories cannot make a radar");
    let engagement = svg(&app, "/api/visualizations/user_engagement_bar?user_id=ana").await;
    assert_eq!(marks(&engagement, "bar"), 16, "eight traits for ana and her segment");
    let traits = svg(&app, "/api/visualizations/user_cluster_radar?user_id=ana").await;
    assert_eq!(marks(&traits, "vertex"), 26, "thirteen traits for ana and her segment");
    for chart in [&scatter, &comparison, &hours, &timeline, &transitions, &pie, &breakdown, &engagement, &traits] {
        assert!(!chart.contains("class=\"empty\""));
    }

    let png =
        app.get("/api/visualizations/cluster_scatter?format=png&width=400&height=300", Some(&app.admin_token)).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 400);
    let dark = svg(&app, "/api/visualizations/cluster_comparison?theme=dark").await;
    assert!(dark.contains("fill=\"#0d1117\""));
    // To look at them: FOOTPRINT_CHARTS_OUT=dir cargo test -p footprint --test api charts_are_drawn.
    if let Ok(dir) = std::env::var("FOOTPRINT_CHARTS_OUT") {
        for (name, user) in [
            ("cluster_scatter", "ana"),
            ("cluster_comparison", "ana"),
            ("user_cluster_radar", "ana"),
            ("user_engagement_bar", "ana"),
            ("behavior_patterns_heatmap", "heavy-0"),
            ("activity_timeline", "heavy-0"),
            ("hourly_activity_heatmap", "heavy-0"),
            ("feature_usage_pie", "heavy-0"),
            ("content_preferences_breakdown", "heavy-0"),
            ("preference_radar", "heavy-0"),
        ] {
            let path = format!("/api/visualizations/{name}?user_id={user}&format=png&width=640&height=400");
            let png = app.get(&path, Some(&app.admin_token)).await.bytes().await.unwrap();
            std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_drawn_from_the_data_on_sqlite() {
    charts_are_drawn_from_the_data(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_drawn_from_the_data_on_postgres() {
    charts_are_drawn_from_the_data(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_requests_are_checked() {
    let app = profiling_app(false, |_| {}).await;
    let uma = app.user_with_role("uma", Role::User).await;
    let admin = Some(app.admin_token.as_str());
    let unknown = app.get("/api/visualizations/bubble_cloud", admin).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let message = body(unknown).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("cluster_scatter") && message.contains("feature_usage_pie"), "{message}");
    for (path, needs) in [
        ("/api/visualizations/activity_timeline", "user_id"),
        ("/api/visualizations/activity_timeline?user_id=ana&theme=sepia", "theme"),
        ("/api/visualizations/activity_timeline?user_id=ana&format=gif", "format"),
    ] {
        let refused = app.get(path, admin).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(body(refused).await["error"]["message"].as_str().unwrap().starts_with(needs), "{path}");
    }
    let nobody = app.get("/api/visualizations/activity_timeline?user_id=nobody", admin).await;
    assert_eq!(error_code(nobody, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    // A plain user sees their own charts, not another user's nor the segments.
    let own = app.get("/api/visualizations/activity_timeline?user_id=uma", Some(&uma)).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert!(is_panel(&own.text().await.unwrap()), "uma has no events yet");
    let other = app.get("/api/visualizations/activity_timeline?user_id=ana", Some(&uma)).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let segments = app.get("/api/visualizations/cluster_scatter?user_id=uma", Some(&uma)).await;
    assert_eq!(segments.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// The library face writes each chart's SVG and PNG under the output path, and a dashboard's
/// page with its charts inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_writes_charts_and_dashboards() {
    use footprint::dashboard::visualization::{BehaviorVisualization, Formats};
    let app = profiling_app(false, |config| config.processing.segmentation_growth = 0.0).await;
    track_all(&app, &segmented_events(now_us())).await;
    footprint::profiles::segments::UserClustering::new(app.state.clone()).update_clusters().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut config = app.state.config.visualization.clone();
    // FOOTPRINT_CHARTS_OUT=dir keeps the files to look at.
    config.output_path = std::env::var("FOOTPRINT_CHARTS_OUT").map_or_else(|_| out.path().to_owned(), Into::into);
    config.chart_theme = "dark".to_owned();
    let visualizer = BehaviorVisualization::with_config(app.state.clone(), config);

    let written = visualizer.create_visualization("cluster_scatter", Some("ana"), None).await.unwrap();
    assert!(written.has_data);
    let names: Vec<String> =
        written.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["cluster_scatter_ana.svg", "cluster_scatter_ana.png"]);
    let svg = std::fs::read_to_string(&written.files[0]).unwrap();
    assert_eq!(marks(&svg, "point"), 10);
    assert!(svg.contains("fill=\"#0d1117\""), "the configured theme");
    assert_eq!(&std::fs::read(&written.files[1]).unwrap()[..4], b"\x89PNG");
    assert!(visualizer.create_visualization("bubble_cloud", None, None).await.is_err());

    let dashboard = visualizer.clone().writing(Formats::Svg).create_user_dashboard("heavy-0").await.unwrap();
    assert_eq!(dashboard.charts.len(), 10, "the segments with the user, and the user's nine charts");
    let page = std::fs::read_to_string(&dashboard.page).unwrap();
    assert_eq!(page.matches("<svg").count(), 10);
    assert!(page.contains("href=\"hourly_activity_heatmap.svg\"") && !page.contains(".png"));
    assert!(dashboard.charts.iter().all(|c| c.files.iter().all(|f| f.exists())));
    let segment = visualizer.create_cluster_dashboard("cluster_1").await.unwrap();
    let page = std::fs::read_to_string(&segment.page).unwrap();
    assert_eq!(marks(&page, "point"), 3, "only the segment's users");
    app.stop().await;
}

/// `footprint visualize` on a fresh store: the panel in both files; an unknown chart fails
/// with the valid names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_chart_files() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("charts");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_footprint"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FOOTPRINT_DATA_DIR", data.path())
            .env("RUST_LOG", "error")
            .args(args)
            .output()
            .expect("run footprint")
    };
    let drawn =
        run(&["visualize", "cluster_comparison", "--theme", "dark", "--width", "400", "--out", out.to_str().unwrap()]);
    assert!(drawn.status.success(), "{}", String::from_utf8_lossy(&drawn.stderr));
    let listed: Vec<String> = String::from_utf8_lossy(&drawn.stdout).lines().map(str::to_owned).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let svg = std::fs::read_to_string(&listed[0]).unwrap();
    assert!(is_panel(&svg) && svg.contains("width=\"400\""));
    assert_eq!(&std::fs::read(&listed[1]).unwrap()[..4], b"\x89PNG");
    let unknown = run(&["visualize", "bubble_cloud", "--out", out.to_str().unwrap()]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("cluster_scatter"));
}

/// Seed 001's acceptance per day and seed 002's next actions, drawn from what was tracked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_and_next_action_charts_follow_the_data() {
    let app = profiling_app(false, |_| {}).await;
    let post = |path: String| {
        let request = app.client.post(app.url(&path)).bearer_auth(&app.admin_token);
        async move { request.send().await.unwrap().status() }
    };
    let empty = svg(&app, "/api/visualizations/match_acceptance_over_time").await;
    assert!(is_panel(&empty) && empty.contains("no match was decided"));
    for (n, accepted) in [true, true, false, true].iter().enumerate() {
        let proposed = format!(
            "/api/tracking/event/match-proposed?user_id=ana&match_id=m{n}&match_score=0.7&alternatives_count=2"
        );
        assert_eq!(post(proposed).await, StatusCode::OK);
        let decided = format!("/api/tracking/event/match-decision?user_id=ana&match_id=m{n}&decision={accepted}");
        assert_eq!(post(decided).await, StatusCode::OK);
    }
    let rated = "/api/tracking/event/match-feedback?user_id=ana&match_id=m0&rating=4".to_owned();
    assert_eq!(post(rated).await, StatusCode::OK);
    let matches = svg(&app, "/api/visualizations/match_acceptance_over_time?days=7").await;
    let points: Vec<f64> =
        matches.split("data-value=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap()).collect();
    assert_eq!(points, [0.75, 0.8], "three of four accepted today; a rating of 4 of 5");

    track_all(&app, &segmented_events(now_us())).await;
    let next = svg(&app, "/api/visualizations/next_action_probabilities?user_id=heavy-0").await;
    assert!(marks(&next, "bar") >= 1 && !next.contains("class=\"empty\""));
    assert!(sum(&next) <= 1.0 + 1e-9, "probabilities of one next action");
    app.stop().await;
}
