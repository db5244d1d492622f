//! Group-commit throughput of each backend: batches of events for users drawn from a large
//! population, as the ingestion writer commits them.
//! `cargo bench -p footprint-store` (PostgreSQL at FOOTPRINT_TEST_DATABASE_URL or 127.0.0.1:5432/test).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use footprint_analytics::Consent;
use footprint_store::*;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn batch(size: usize, users: u64) -> Arc<[NewEvent]> {
    (0..size)
        .map(|_| {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let user = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % users;
            NewEvent {
                event_id: format!("{:026}", n),
                user_id: format!("user-{user}"),
                user_key: format!("{:032x}", user.wrapping_mul(0xBF58_476D_1CE4_E5B9)),
                message_id: Some(format!("m-{n}")),
                session_id: None,
                event_type: "page_view".to_owned(),
                properties: r#"{"page":"/shoes/item-123","category":"shoes","element_id":"btn-7","price":19.99,"referrer":"https://www.example.org/search?q=shoes"}"#.to_owned(),
                context: r#"{"user_agent":"Mozilla/5.0 (X11; Linux x86_64)","ip":"198.51.100.0"}"#.to_owned(),
                timestamp_us: 1_700_000_000_000_000 + i64::try_from(n).unwrap_or(0) * 1000,
                received_us: 1_700_000_000_000_000 + i64::try_from(n).unwrap_or(0) * 1000,
                consent: None,
            }
        })
        .collect()
}

fn bench_backend(c: &mut Criterion, name: &str, store: Arc<dyn Store>, runtime: &tokio::runtime::Runtime) {
    let options = CommitOptions { session_gap_us: 1_800_000_000, consent_default: Consent::GRANT_ALL };
    let mut group = c.benchmark_group(format!("commit/{name}"));
    group.sample_size(20);
    // Warm the store so indexes have a realistic size.
    for _ in 0..50 {
        runtime.block_on(store.commit_events(batch(1000, 10_000), options)).expect("warm-up");
    }
    for size in [64usize, 1000] {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter_batched(
                || batch(size, 10_000),
                |events| runtime.block_on(store.commit_events(events, options)).expect("commit"),
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = runtime
        .block_on(open(
            &StoreLocation::Sqlite(dir.path().join("bench.db")),
            &SqliteOptions::default(),
            &PostgresOptions::default(),
        ))
        .expect("sqlite");
    bench_backend(c, "sqlite", sqlite, &runtime);

    let base = std::env::var("FOOTPRINT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("fp_bench_{}", std::process::id());
    let admin = |sql: String| {
        let base = base.clone();
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("postgres");
            tokio::spawn(connection);
            client.batch_execute(&sql).await.expect("schema");
        });
    };
    admin(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let url = format!("{base}?options=-csearch_path%3D{schema}");
    let postgres = runtime
        .block_on(open(&StoreLocation::Postgres(url), &SqliteOptions::default(), &PostgresOptions::default()))
        .expect("postgres");
    bench_backend(c, "postgres", postgres, &runtime);
    admin(format!("DROP SCHEMA {schema} CASCADE"));
}

criterion_group!(benches, commit);
criterion_main!(benches);
