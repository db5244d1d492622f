//! `footprint bench login`: the login's server time, with the risk score computed from a
//! growing history (up to the 50 logins it compares with), one login at a time: the password's
//! argon2id check dominates; the risk score's reads and the history's write are the rest.

use std::time::{Duration, Instant};

use clap::Args;

use super::target::Target;
use crate::accounts::risk::LoginContext;
use crate::accounts::service::{self as accounts, LoginOutcome, NewUserRequest};
use crate::app::config::{Config, Secret};

#[derive(Debug, Clone, Args)]
pub struct LoginBench {
    /// Logins timed, one after another.
    #[arg(long, default_value_t = 200)]
    pub logins: u32,
    /// Run against PostgreSQL (a fresh schema of this database) instead of SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
}

fn at(sorted: &[Duration], share: f64) -> f64 {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * share).round() as usize;
    sorted.get(rank).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub async fn run(bench: LoginBench, config: &Config) -> anyhow::Result<()> {
    let target = Target::start(config, bench.database_url.as_deref()).await?;
    let state = &target.state;
    let password = crate::kernel::crypto::random_token(18);
    let request = NewUserRequest {
        user_id: None,
        username: Some("bench-login".to_owned()),
        email: Some("bench-login@example.com".to_owned()),
        password: Secret::new(password.clone()),
        role: None,
        tier: None,
        profile: None,
    };
    accounts::create_account(state, request, "bench").await.map_err(|error| anyhow::anyhow!("{error}"))?;
    let context = LoginContext {
        ip_address: Some("192.0.2.10".to_owned()),
        user_agent: Some("bench".to_owned()),
        device_id: Some("bench-device".to_owned()),
    };
    let client = Some("127.0.0.1".parse()?);
    let mut times = Vec::with_capacity(bench.logins as usize);
    for n in 0..bench.logins {
        let started = Instant::now();
        let outcome = accounts::login(state, "bench-login", password.clone(), client, &context)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        times.push(started.elapsed());
        anyhow::ensure!(
            matches!(outcome, LoginOutcome::Token(..)),
            "login {n} was challenged: the bench's logins are usual ones"
        );
    }
    times.sort_unstable();
    println!(
        "{} logins on {} (argon2id + risk score over the last 50 logins + history write): p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        times.len(),
        state.store.backend(),
        at(&times, 0.5),
        at(&times, 0.99),
        at(&times, 1.0)
    );
    target.stop().await;
    Ok(())
}
