//! Several nodes on one PostgreSQL and one Redis, as the README's "Running several nodes" sets
//! them up: three `footprint serve` processes take batches through all three while one of them
//! is killed (SIGKILL) at a random moment and started again; every request left unanswered is
//! sent again to another node. Afterwards every acknowledged event is stored exactly once, the
//! derived counts hold every stored event once, each user's visit is one session whichever
//! nodes its events went through, a scheduled job ran once per slot across the nodes, and a
//! tier's rate limit was one budget for the three.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use footprint_store::{PostgresOptions, ScratchSchema, SqliteOptions, StoreLocation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, body, postgres_base_url};
use crate::process::{Server, login, start_binary};

const NODES: usize = 3;
const WORKERS: usize = 6;
const USERS: usize = 4;
const BATCH: usize = 20;
/// The event types, in turn.
const KINDS: [&str; 3] = ["view", "cart", "buy"];
/// Events acknowledged before the kill, and after the restart, at least.
const BEFORE_KILL: usize = 2_000;
const AFTER_RESTART: usize = 2_000;
/// Bounds on every wait: far beyond what a working cluster takes.
const DEADLINE: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The free tier's hourly requests in this cluster.
const FREE_REQUESTS: usize = 12;

/// The nodes' addresses as the clients see them: `None` while a node is down.
type Addresses = Arc<Mutex<Vec<Option<String>>>>;

struct Cluster {
    nodes: Vec<Server>,
    data_dirs: Vec<tempfile::TempDir>,
    env: Vec<(&'static str, String)>,
    addresses: Addresses,
}

impl Cluster {
    fn start(database_url: &str, config_file: &std::path::Path) -> Cluster {
        let env = vec![
            ("DATABASE_URL", database_url.to_owned()),
            ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
            ("FOOTPRINT_CONFIG", config_file.display().to_string()),
        ];
        let mut cluster = Cluster { nodes: Vec::new(), data_dirs: Vec::new(), env, addresses: Arc::default() };
        for _ in 0..NODES {
            let data_dir = tempfile::tempdir().unwrap();
            let node = start_binary(data_dir.path(), &cluster.env_refs());
            cluster.addresses.lock().unwrap().push(Some(node.address.clone()));
            cluster.nodes.push(node);
            cluster.data_dirs.push(data_dir);
        }
        cluster
    }

    fn env_refs(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(name, value)| (*name, value.as_str())).collect()
    }

    fn address(&self, node: usize) -> String {
        self.nodes[node].address.clone()
    }

    fn kill(&mut self, node: usize) {
        self.addresses.lock().unwrap()[node] = None;
        self.nodes[node].kill();
    }

    fn restart(&mut self, node: usize) {
        let server = start_binary(self.data_dirs[node].path(), &self.env_refs());
        self.addresses.lock().unwrap()[node] = Some(server.address.clone());
        self.nodes[node] = server;
    }
}

/// Sends `batch` to the nodes in turn from `first`, until one answers it: a node that is down,
/// does not answer, or is too busy (503) passes it to the next. The statuses of the events, as
/// the node that answered said them.
async fn send_until_answered(
    client: &reqwest::Client,
    addresses: &Addresses,
    token: &str,
    first: usize,
    batch: &[Value],
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for attempt in 0.. {
        assert!(tokio::time::Instant::now() < deadline, "no node answered a batch within {DEADLINE:?}");
        let address = addresses.lock().unwrap()[(first + attempt) % NODES].clone();
        let Some(address) = address else { continue };
        let sent = client
            .post(format!("{address}/api/track/batch"))
            .bearer_auth(token)
            .json(&json!({"batch": batch}))
            .send()
            .await;
        let Ok(response) = sent else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK, "a batch was refused by {address}");
        let Ok(answer) = response.json::<Value>().await else { continue };
        return answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|result| result["status"].as_str().unwrap().to_owned())
            .collect();
    }
    unreachable!()
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client.get(url).bearer_auth(token).send().await.unwrap()
}

/// Every stored event through the API of one node: message id → (user, session) of each copy.
async fn stored_events(client: &reqwest::Client, address: &str, token: &str) -> HashMap<String, Vec<(String, String)>> {
    let mut stored: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut url = format!("{address}/api/v1/events?limit=1000");
    loop {
        let page = body(get(client, &url, token).await).await;
        for event in page["events"].as_array().unwrap() {
            stored.entry(event["message_id"].as_str().unwrap_or_default().to_owned()).or_default().push((
                event["user_id"].as_str().unwrap().to_owned(),
                event["session_id"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{address}/api/v1/events?limit=1000&cursor={cursor}"),
            None => return stored,
        }
    }
}

/// A moment from 0 to `range_ms` that differs from run to run.
fn random_ms(range_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    u64::from(nanos) % range_ms.max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_keep_every_acknowledged_event_once_through_a_sigkill() {
    let base = postgres_base_url();
    let schema = ScratchSchema::create(&base, "fp_cluster")
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {base} (.ci/run starts it): {e}"));
    let config_dir = tempfile::tempdir().unwrap();
    let config_file = config_dir.path().join("footprint.toml");
    // A slot every 2 seconds for the tier analysis; the other schedules off.
    std::fs::write(
        &config_file,
        format!(
            "[cache]\nredis_prefix = \"fp-cluster-{}:\"\n\n[tiers.free]\nrequests_per_hour = {FREE_REQUESTS}\nevents_per_month = 0\n\n\
             [automation]\ntiers_schedule = \"*/2 * * * * *\"\nprovisioning_schedule = \"\"\nanalytics_schedule = \"\"\ncleanup_schedule = \"\"\n",
            ulid::Ulid::new()
        ),
    )
    .unwrap();
    let mut cluster = Cluster::start(&schema.url(), &config_file);
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();
    // Signed on one node, accepted by the others: the secrets are the store's.
    let token = login(&client, &cluster.address(0), ADMIN, ADMIN_PASSWORD).await;

    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (client, addresses, token) = (client.clone(), Arc::clone(&cluster.addresses), token.clone());
        let (acknowledged, stop) = (Arc::clone(&acknowledged), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            for round in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // Users are shared by workers, and each worker goes round the nodes: one user's
                // events go through every node at once.
                let user = format!("cluster-user-{}", (worker + round) % USERS);
                let batch: Vec<Value> = (0..BATCH)
                    .map(|n| {
                        let kind = KINDS[(round + n) % KINDS.len()];
                        json!({"user_id": user, "type": kind, "message_id": format!("w{worker}-r{round}-n{n}")})
                    })
                    .collect();
                let statuses = send_until_answered(&client, &addresses, &token, worker + round, &batch).await;
                let mut acknowledged = acknowledged.lock().unwrap();
                for (event, status) in batch.iter().zip(statuses) {
                    // A batch resent after its node died may have been stored before: a duplicate.
                    assert!(status == "accepted" || status == "duplicate", "{status}");
                    acknowledged.insert(event["message_id"].as_str().unwrap().to_owned(), user.clone());
                }
            }
        }));
    }
    let wait_for = |count: usize| {
        let acknowledged = Arc::clone(&acknowledged);
        async move {
            let deadline = tokio::time::Instant::now() + DEADLINE;
            while acknowledged.lock().unwrap().len() < count {
                assert!(tokio::time::Instant::now() < deadline, "fewer than {count} events acknowledged in time");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    wait_for(BEFORE_KILL).await;
    tokio::time::sleep(Duration::from_millis(random_ms(1_500))).await;
    let victim = 1 + random_ms(2) as usize;
    cluster.kill(victim);
    let at_kill = acknowledged.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.restart(victim);
    wait_for(at_kill + AFTER_RESTART).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        tokio::time::timeout(DEADLINE, worker).await.expect("a client hung").expect("a client failed");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Every acknowledged event is stored once, under its user, whichever node is asked.
    let stored = stored_events(&client, &cluster.address(victim), &token).await;
    let missing: Vec<&String> = acknowledged.keys().filter(|id| !stored.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} acknowledged events lost, e.g. {:?}", missing.len(), missing.first());
    let repeated: Vec<(&String, usize)> =
        stored.iter().filter(|(_, copies)| copies.len() > 1).map(|(id, copies)| (id, copies.len())).collect();
    assert!(repeated.is_empty(), "events stored more than once: {:?}", &repeated[..repeated.len().min(5)]);
    for (id, user) in &acknowledged {
        assert_eq!(&stored[id][0].0, user, "{id}");
    }
    // One visit per user, though its events were stored by three nodes in any order.
    let mut sessions: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for copies in stored.values() {
        sessions.entry(copies[0].0.as_str()).or_default().insert(copies[0].1.as_str());
    }
    for (user, ids) in &sessions {
        assert_eq!(ids.len(), 1, "{user} has one session: {ids:?}");
    }

    // Resent to another node, acknowledged events are duplicates.
    let resent: Vec<Value> = (0..BATCH)
        .map(|n| json!({"user_id": acknowledged["w0-r0-n0"], "type": "view", "message_id": format!("w0-r0-n{n}")}))
        .collect();
    let statuses = send_until_answered(&client, &cluster.addresses, &token, 2, &resent).await;
    assert!(statuses.iter().all(|status| status == "duplicate"), "{statuses:?}");

    // Processing, whichever node ran it, counted every stored event once.
    let store = footprint_store::open(
        &StoreLocation::Postgres(schema.url()),
        &SqliteOptions::default(),
        &PostgresOptions::default(),
    )
    .await
    .unwrap();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for id in stored.keys() {
        let (round, n) = round_and_index(id);
        *expected.entry(KINDS[(round + n) % KINDS.len()].to_owned()).or_default() += 1;
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let global = store.sequence_counts(&[(String::new(), String::new())]).await.unwrap();
        let counted: BTreeMap<String, i64> =
            global.into_iter().filter(|count| count.count != 0).map(|count| (count.next, count.count)).collect();
        let daily: i64 = store.daily_type_counts(0, i64::MAX / 2).await.unwrap().iter().map(|day| day.events).sum();
        if counted == expected && daily == stored.len() as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "processing did not count every event once: {counted:?} and {daily} daily, for {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The tier analysis ran once per slot (one every 2 seconds), whichever nodes were up.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let slots = loop {
        let url = format!("{}/api/v1/automation/runs?job=tiers&limit=1000", cluster.address(0));
        let runs = body(get(&client, &url, &token).await).await;
        let mut slots: BTreeMap<String, usize> = BTreeMap::new();
        for run in runs["runs"].as_array().unwrap().iter().filter(|run| run["trigger"] == "schedule") {
            *slots.entry(run["scheduled_for"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        if slots.len() >= 3 {
            break slots;
        }
        assert!(tokio::time::Instant::now() < deadline, "the schedule did not run: {runs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(slots.values().all(|&runs| runs == 1), "one run per slot: {slots:?}");

    // A free account's hourly requests are one budget across the three nodes.
    let created = client
        .post(format!("{}/api/v1/users", cluster.address(0)))
        .bearer_auth(&token)
        .json(&json!({"username": "cluster-free", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let free = login(&client, &cluster.address(1), "cluster-free", PASSWORD).await;
    for n in 0..FREE_REQUESTS {
        let address = cluster.address(n % NODES);
        let response = get(&client, &format!("{address}/api/v1/users/cluster-free"), &free).await;
        assert_eq!(response.status(), StatusCode::OK, "request {n} on {address}");
    }
    for node in 0..NODES {
        let response = get(&client, &format!("{}/api/v1/users/cluster-free", cluster.address(node)), &free).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the budget is spent on node {node}");
    }
    drop(cluster);
}

/// `w{worker}-r{round}-n{n}` → (round, n).
fn round_and_index(id: &str) -> (usize, usize) {
    let mut parts = id.split('-').skip(1);
    let round = parts.next().unwrap()[1..].parse().unwrap();
    let n = parts.next().unwrap()[1..].parse().unwrap();
    (round, n)
}
