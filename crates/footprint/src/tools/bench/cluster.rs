//! `footprint bench cluster`: several `footprint serve` processes (this binary) on one
//! PostgreSQL schema and one Redis, loaded with batches through all of them while one node is
//! killed (SIGKILL) and started again; a batch left unanswered goes to the next node. It prints
//! the throughput and latency the clients saw, the retries, and what the store holds afterwards:
//! every acknowledged event once, and the processing watermark at the last event. The same
//! scenario as `tests/api/cluster.rs`, with figures.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};

use super::load::{Call, open, request};
use crate::app::config::Config;

#[derive(Debug, Clone, Args)]
pub struct ClusterBench {
    /// The PostgreSQL database the nodes share (a fresh schema in it, dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub database_url: String,
    /// The Redis the nodes share for their rate limits.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Client connections, spread over the nodes.
    #[arg(long, default_value_t = 24)]
    pub connections: usize,
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 20)]
    pub duration_secs: u64,
    /// When the last node is killed (SIGKILL), in seconds from the start; it starts again a second
    /// later. 0: no node is killed.
    #[arg(long, default_value_t = 8)]
    pub kill_after_secs: u64,
}

struct Node {
    child: Child,
    authority: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts this binary's `serve` on a port of its own; waits for the line saying where it listens.
fn start_node(data_dir: &std::path::Path, env: &[(&str, String)]) -> anyhow::Result<Node> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("FOOTPRINT_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start a node")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let authority = line.trim().strip_prefix("footprint listening on http://").map(str::to_owned);
    match authority {
        Some(authority) => Ok(Node { child, authority }),
        None => {
            let _ = child.kill();
            anyhow::bail!("the node did not say where it listens: {line:?}")
        }
    }
}

const KINDS: [&str; 4] = ["page_view", "click", "search", "purchase"];

/// Where the clients send: `None` for a node that is down.
type Nodes = Arc<Mutex<Vec<Option<String>>>>;

#[derive(Default)]
struct Tally {
    acknowledged: HashSet<String>,
    duplicates: u64,
    retries: u64,
    batches: u64,
}

/// Sends `body` (a batch) to the nodes in turn from `first` until one answers 200; the message ids'
/// statuses are tallied.
async fn send(
    nodes: &Nodes,
    first: usize,
    token: &str,
    body: String,
    ids: &[String],
    tally: &Mutex<Tally>,
    deadline: Instant,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for attempt in 0.. {
        anyhow::ensure!(Instant::now() < deadline, "no node answered a batch in time");
        let count = nodes.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len();
        let Some(authority) = nodes.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[(first + attempt) % count].clone()
        else {
            continue;
        };
        let call =
            Call { method: Method::POST, path: "/api/track/batch".to_owned(), body: Some(body.clone()), units: 0 };
        let answer = async {
            let mut sender = open(&authority).await?;
            sender.ready().await?;
            let response = sender.send_request(request(call, &authority, token)?).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        }
        .await;
        let Ok((StatusCode::OK, bytes)) = answer else {
            if let Ok(mut tally) = tally.lock() {
                tally.retries += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        let results = answer["results"].as_array().context("no results")?;
        let mut tally = tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        tally.batches += 1;
        for (id, result) in ids.iter().zip(results) {
            match result["status"].as_str() {
                Some("accepted") => {
                    tally.acknowledged.insert(id.clone());
                }
                Some("duplicate") => {
                    tally.duplicates += 1;
                    tally.acknowledged.insert(id.clone());
                }
                other => anyhow::bail!("event {id}: {other:?}"),
            }
        }
        return Ok(started.elapsed());
    }
    unreachable!()
}

pub async fn run(bench: ClusterBench, _config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(bench.nodes >= 2, "--nodes: at least 2");
    let schema = footprint_store::ScratchSchema::create(&bench.database_url, "fp_cluster_bench")
        .await
        .context("cannot use --database-url")?;
    let password = crate::kernel::crypto::random_token(18);
    let env = vec![
        ("DATABASE_URL", schema.url()),
        ("REDIS_URL", bench.redis_url.clone()),
        ("FOOTPRINT_ADMIN_USERNAME", "bench-admin".to_owned()),
        ("FOOTPRINT_ADMIN_PASSWORD", password.clone()),
        ("FOOTPRINT_CONSENT_DEFAULT", "grant".to_owned()),
    ];
    let dirs: Vec<tempfile::TempDir> = (0..bench.nodes).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let mut running = Vec::new();
    for dir in &dirs {
        running.push(start_node(dir.path(), &env)?);
    }
    let nodes: Nodes = Arc::new(Mutex::new(running.iter().map(|node| Some(node.authority.clone())).collect()));
    println!(
        "footprint bench cluster: {} nodes on one PostgreSQL schema and one Redis, {} connections, batches of {}, {} s{}",
        bench.nodes,
        bench.connections,
        bench.batch_size,
        bench.duration_secs,
        if bench.kill_after_secs > 0 {
            format!(", the last node killed at {} s and started again 1 s later", bench.kill_after_secs)
        } else {
            String::new()
        }
    );

    let login = serde_json::json!({"username": "bench-admin", "password": password}).to_string();
    let first = running[0].authority.clone();
    let mut sender = open(&first).await?;
    let login = hyper::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(hyper::header::HOST, &first)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(login)))?;
    let response = sender.send_request(login).await?;
    let answer: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    let token = format!("Bearer {}", answer["access_token"].as_str().context("the admin could not log in")?);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?));
    let started = Instant::now();
    let end = started + Duration::from_secs(bench.duration_secs.max(1));
    let deadline = end + Duration::from_secs(120);
    let mut clients = Vec::new();
    for connection in 0..bench.connections.max(1) {
        let (nodes, token, tally, latency) =
            (Arc::clone(&nodes), token.clone(), Arc::clone(&tally), Arc::clone(&latency));
        let batch_size = bench.batch_size.max(1);
        clients.push(tokio::spawn(async move {
            let mut round = 0usize;
            while Instant::now() < end {
                let ids: Vec<String> = (0..batch_size).map(|n| format!("c{connection}-r{round}-n{n}")).collect();
                let events: Vec<serde_json::Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(n, id)| {
                        let kind = KINDS[n % KINDS.len()];
                        let user = format!("user-{}", (connection * 31 + round * 7 + n) % 2_000);
                        serde_json::json!({"user_id": user, "type": kind, "message_id": id})
                    })
                    .collect();
                let body = serde_json::json!({ "batch": events }).to_string();
                let took = send(&nodes, connection + round, &token, body, &ids, &tally, deadline).await?;
                if let Ok(mut latency) = latency.lock() {
                    latency.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
                }
                round += 1;
            }
            anyhow::Ok(())
        }));
    }
    if bench.kill_after_secs > 0 && bench.kill_after_secs < bench.duration_secs {
        tokio::time::sleep_until((started + Duration::from_secs(bench.kill_after_secs)).into()).await;
        let last = bench.nodes - 1;
        if let Ok(mut nodes) = nodes.lock() {
            nodes[last] = None;
        }
        let _ = running[last].child.kill();
        let _ = running[last].child.wait();
        println!("  {:>5.1} s  node {last} killed", started.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let restarted = start_node(dirs[last].path(), &env)?;
        println!("  {:>5.1} s  node {last} listening again", started.elapsed().as_secs_f64());
        if let Ok(mut nodes) = nodes.lock() {
            nodes[last] = Some(restarted.authority.clone());
        }
        running[last] = restarted;
    }
    for client in clients {
        client.await??;
    }
    let elapsed = started.elapsed();
    let (acknowledged, duplicates, retries, batches) = {
        let tally = tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        (tally.acknowledged.len(), tally.duplicates, tally.retries, tally.batches)
    };
    let latency = latency.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    println!(
        "  {:.0} events/s acknowledged through the cluster ({acknowledged} events in {batches} batches over {:.1} s); \
         a batch took p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, retries included; {retries} sends retried on another node, \
         {duplicates} events found already stored when sent again",
        acknowledged as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        latency.value_at_percentile(50.0) as f64 / 1000.0,
        latency.value_at_percentile(99.0) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
    );

    let store = footprint_store::open(
        &footprint_store::StoreLocation::Postgres(schema.url()),
        &footprint_store::SqliteOptions::default(),
        &footprint_store::PostgresOptions::default(),
    )
    .await?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0u64;
    let mut after = None;
    loop {
        let page = store
            .events(footprint_store::EventQuery { limit: 50_000, after, ..footprint_store::EventQuery::default() })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(footprint_store::EventPosition { timestamp_us: last.timestamp_us, seq: last.seq });
        total += page.len() as u64;
        seen.extend(page.into_iter().filter_map(|event| event.message_id));
    }
    let missing = {
        let tally = tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        tally.acknowledged.iter().filter(|id| !seen.contains(*id)).count()
    };
    println!(
        "  stored: {total} events, {} distinct message ids; {missing} acknowledged events missing, {} stored twice",
        seen.len(),
        total - seen.len() as u64
    );
    let drained = Instant::now();
    let max_seq = store.max_event_seq().await?;
    loop {
        let watermark = store.processing_watermark(crate::tracking::processing::SEQUENCES).await?;
        if watermark >= max_seq || drained.elapsed() > Duration::from_secs(300) {
            println!(
                "  processing reached event {watermark} of {max_seq} {:.1} s after the load ended",
                drained.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(running);
    anyhow::ensure!(missing == 0 && total == seen.len() as u64, "the cluster lost or repeated events");
    Ok(())
}
