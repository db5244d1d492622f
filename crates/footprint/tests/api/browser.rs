//! The dashboard in Debian's headless Chromium, on the demo data: log in through the form,
//! open every page, check that each chart is an SVG with data marks and that no page logs a
//! console error or a failed request; then the refusals a browser can meet. A screenshot of each
//! page (desktop, and phone width for some) is saved under the test's output folder.

use std::path::PathBuf;

use footprint::tools::demo::{self, DemoOptions, ProgressBar};

use crate::cdp::{Browser, Page, chromium};
use crate::helpers::TestApp;

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Each chart on the page whose SVG has no data mark, with its title.
const CHARTS_WITHOUT_DATA: &str = r#"(() => {
  const figures = [...document.querySelectorAll("figure.chart")];
  return {
    charts: figures.length,
    empty: figures
      .filter(f => !f.querySelector("svg") || f.querySelectorAll("svg .mark").length === 0 || f.dataset.hasData !== "true")
      .map(f => (f.querySelector("svg title") || f).textContent.trim().slice(0, 80)),
  };
})()"#;

/// Elements that reach past the right edge of the screen (inside a scrolling box is fine).
const WIDER_THAN_THE_SCREEN: &str = r#"[...document.querySelectorAll("body *")]
  .filter(e => !e.parentElement.closest(".scroll") && e.getBoundingClientRect().right > window.innerWidth + 1)
  .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " " + Math.round(e.getBoundingClientRect().right))
  .slice(0, 5)"#;

async fn log_in(page: &Page, app: &TestApp, username: &str, password: &str) {
    page.goto(&app.url("/ui/login")).await.unwrap();
    page.fill("#username", username).await.unwrap();
    page.fill("#password", password).await.unwrap();
    page.click_and_wait("form.login button[type=submit]").await.unwrap();
}

async fn text(page: &Page) -> String {
    page.eval("document.body.innerText").await.unwrap().as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_page_shows_its_data_in_a_real_browser() {
    // A small demo has few users who left: the churn model is checked on fewer of them.
    let app = TestApp::spawn_with(|config| config.insights.churn_min_users = 3).await;
    // FOOTPRINT_BROWSER_DEMO_USERS=2000 runs it on the demo's default size (for a look at the screenshots).
    let users = std::env::var("FOOTPRINT_BROWSER_DEMO_USERS").ok().and_then(|n| n.parse().ok()).unwrap_or(80);
    let report = demo::load(&app.state, &DemoOptions { users, seed: 11, force: false }, &ProgressBar::hidden())
        .await
        .expect("the demo loads");
    let password = |username: &str| {
        let account = report.accounts.iter().find(|a| a.username == username).expect("account");
        account.password.as_ref().expect("its password").expose().to_owned()
    };
    let owner = report.accounts.iter().find(|a| a.username == "demo-user").unwrap().user_id.clone();
    let other = report.accounts.iter().find(|a| a.username == "demo-manager").unwrap().user_id.clone();
    let out = screenshots();

    let browser = Browser::launch(&chromium()).await.unwrap_or_else(|e| {
        panic!("{} must be installed for the browser tests (.ci/test installs Debian's chromium): {e}", chromium())
    });
    let page = browser.new_page().await.unwrap_or_else(|e| panic!("{e}; chromium said: {:?}", browser.stderr_tail()));
    log_in(&page, &app, "demo-admin", &password("demo-admin")).await;
    assert_eq!(page.eval("location.pathname").await.unwrap(), "/", "the login leads to the overview");

    let pages = [
        ("overview", "/".to_owned(), 2),
        ("users", "/ui/users".to_owned(), 0),
        ("user", format!("/ui/users/{owner}"), 9),
        ("segments", "/ui/segments".to_owned(), 2),
        ("matching", "/ui/matching?days=30".to_owned(), 1),
        ("attendance", "/ui/attendance".to_owned(), 1),
        ("insights", "/ui/insights".to_owned(), 5),
        ("models", "/ui/models".to_owned(), 3),
        ("operations", "/ui/operations".to_owned(), 0),
    ];
    for (name, path, charts) in &pages {
        page.clear_problems();
        page.goto(&app.url(path)).await.unwrap();
        let found = page.eval(CHARTS_WITHOUT_DATA).await.unwrap();
        assert_eq!(found["charts"], *charts, "{name}: the charts drawn");
        assert_eq!(found["empty"], serde_json::json!([]), "{name}: charts without data");
        let body = text(&page).await;
        assert!(!body.contains("internal error"), "{name}: {body}");
        page.screenshot(&out.join(format!("{name}.png"))).await.unwrap();
        assert_eq!(page.problems(), Vec::<String>::new(), "{name}: console errors or failed requests");
    }
    page.goto(&app.url("/ui/users")).await.unwrap();
    let listed = page.eval("document.querySelectorAll('#users tbody tr').length").await.unwrap();
    assert!(listed.as_u64().unwrap() >= 50, "a full first page of users: {listed}");
    page.goto(&app.url("/ui/attendance")).await.unwrap();
    let coming = page.eval("document.querySelectorAll('#predictions tbody tr').length").await.unwrap();
    assert!(coming.as_u64().unwrap() >= 1, "the coming events are predicted: {coming}");

    // A state-changing call without the form's CSRF token is refused, even from this session.
    let status = page
        .eval("fetch('/ui/segments/run', {method: 'POST', body: new URLSearchParams({})}).then(r => r.status)")
        .await
        .unwrap();
    assert_eq!(status, 403);
    page.clear_problems();

    // At phone width nothing is wider than the screen.
    page.set_viewport(390, 844, true).await.unwrap();
    for (name, path) in [("overview", "/".to_owned()), ("user", format!("/ui/users/{owner}"))] {
        page.goto(&app.url(&path)).await.unwrap();
        let overflow = page.eval(WIDER_THAN_THE_SCREEN).await.unwrap();
        assert_eq!(overflow, serde_json::json!([]), "{name} at 390 px: wider than the screen");
        page.screenshot(&out.join(format!("{name}-phone.png"))).await.unwrap();
    }
    assert_eq!(page.problems(), Vec::<String>::new());

    // A wrong password is said on the login page; a plain user cannot open another's page.
    let second = browser.new_page().await.unwrap();
    log_in(&second, &app, "demo-user", "not-the-password").await;
    assert!(text(&second).await.contains("Wrong username or password"));
    assert_eq!(second.eval("location.pathname").await.unwrap(), "/ui/login");
    second.screenshot(&out.join("login-refused.png")).await.unwrap();
    log_in(&second, &app, "demo-user", &password("demo-user")).await;
    assert_eq!(second.eval("location.pathname").await.unwrap().as_str().unwrap(), format!("/ui/users/{owner}"));
    second.goto(&app.url(&format!("/ui/users/{other}"))).await.unwrap();
    assert!(text(&second).await.contains("Not for this account"));
    second.screenshot(&out.join("forbidden.png")).await.unwrap();
    drop(second);
    drop(page);
    browser.close().await.ok();
    app.stop().await;
}
