//! Sending the outbox: each due delivery is posted with its signature; the answer (or its
//! absence) is logged as an attempt; a 2xx delivers it, anything else retries it after an
//! exponential, jittered delay until `webhooks.give_up_after_secs` has passed since it was queued.
//!
//! The signature lets a receiver check who sent the body and when:
//! `Footprint-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; a receiver
//! refuses a `t` far from its clock (replays) and compares `v1` in constant time.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, header};
use footprint_store::{DeliveryAttempt, DeliveryOutcome, DeliveryRecord};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use sha2::Sha256;

use crate::app::config::WebhooksConfig;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;

/// Deliveries sent per round.
const ROUND: u32 = 50;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

static CLIENT: LazyLock<HttpsClient> = LazyLock::new(|| {
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(connector)
});

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{unix_secs}.").as_bytes());
    mac.update(body);
    format!("t={unix_secs},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempt + 1`: `retry_base_ms` doubled at each attempt, at most
/// `retry_max_ms`, then drawn uniformly from its upper half (so that receivers coming back are
/// not hit by every sender at once).
pub fn backoff(attempt: i64, config: &WebhooksConfig, rng: &mut impl Rng) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(30);
    let full = config.retry_base_ms.saturating_mul(1 << doublings).min(config.retry_max_ms);
    let half = full / 2;
    half + Duration::from_micros(rng.random_range(0..=u64::try_from(half.as_micros()).unwrap_or(u64::MAX)))
}

/// Sends the deliveries due now; returns how many were attempted.
pub async fn deliver_due(state: &AppState) -> Result<usize, ApiError> {
    let config = &state.config.webhooks;
    let now_us = state.clock.now_us();
    // Leased for longer than one attempt can take: another node does not send them meanwhile.
    // The claimed deliveries are sent one after another: the lease covers them all, so that no
    // other node claims one still waiting its turn here.
    let lease_us = i64::try_from((config.timeout_ms * (ROUND + 1)).as_micros()).unwrap_or(i64::MAX / 4);
    let due = state.store.claim_deliveries(now_us, now_us + lease_us, ROUND).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let hooks = state.store.webhooks().await?;
    let count = due.len();
    for delivery in due {
        let Some(hook) = hooks.iter().find(|hook| hook.webhook_id == delivery.webhook_id) else { continue };
        let secret = state.keys.cipher.decrypt(&hook.secret_enc).map_err(ApiError::internal)?;
        let started = Instant::now();
        let answer = send(&hook.url, &secret, &delivery, state.clock.now_us() / 1_000_000, config.timeout_ms).await;
        let at_us = state.clock.now_us();
        let attempt = delivery.attempts + 1;
        let (status_code, error) = match answer {
            Ok(status) if (200..300).contains(&status) => (Some(i64::from(status)), None),
            Ok(status) => (Some(i64::from(status)), Some(format!("the receiver answered {status}"))),
            Err(error) => (None, Some(error)),
        };
        let outcome = if error.is_none() {
            DeliveryOutcome { status: "delivered".to_owned(), next_attempt_us: at_us }
        } else {
            let retry_at =
                at_us + i64::try_from(backoff(attempt, config, &mut rand::rng()).as_micros()).unwrap_or(i64::MAX / 4);
            let give_up_us = i64::try_from(config.give_up_after_secs.as_micros()).unwrap_or(i64::MAX / 4);
            if retry_at - delivery.created_at_us > give_up_us {
                DeliveryOutcome { status: "failed".to_owned(), next_attempt_us: at_us }
            } else {
                DeliveryOutcome { status: "pending".to_owned(), next_attempt_us: retry_at }
            }
        };
        if outcome.status != "delivered" {
            tracing::warn!(delivery = delivery.delivery_id, webhook = %hook.webhook_id, attempt, status = %outcome.status,
                error = error.as_deref().unwrap_or_default(), "a webhook delivery did not go through");
        }
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let logged =
            DeliveryAttempt { delivery_id: delivery.delivery_id, attempt, at_us, status_code, error, duration_ms };
        state.store.record_attempt(logged, outcome).await?;
    }
    Ok(count)
}

/// Posts one delivery; the receiver's status, or why there was none.
async fn send(
    url: &str,
    secret: &str,
    delivery: &DeliveryRecord,
    unix_secs: i64,
    timeout: Duration,
) -> Result<u16, String> {
    let body = Bytes::from(delivery.payload.clone());
    let request = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, concat!("footprint-webhooks/", env!("CARGO_PKG_VERSION")))
        .header("Footprint-Webhook-Id", &delivery.webhook_id)
        .header("Footprint-Delivery", delivery.delivery_id.to_string())
        .header("Footprint-Kind", &delivery.kind)
        .header("Footprint-Signature", signature(secret, unix_secs, &body))
        .body(Full::new(body))
        .map_err(|error| format!("the request could not be built: {error}"))?;
    match tokio::time::timeout(timeout, CLIENT.request(request)).await {
        Ok(Ok(response)) => Ok(response.status().as_u16()),
        Ok(Err(error)) => Err(format!("no answer: {}", describe(&error))),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test_secret_1234'
        assert_eq!(
            signature("whsec_test_secret_1234", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=09b3dbd0d037bc391fb094acc8a79acc8199cdce9440582d74d96e9f4688d5e6"
        );
    }

    #[test]
    fn the_backoff_doubles_within_its_bounds() {
        let config = WebhooksConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 1..=20 {
            let full = (config.retry_base_ms * (1 << (attempt - 1).min(30))).min(config.retry_max_ms);
            let delay = backoff(attempt, &config, &mut rng);
            assert!(delay >= full / 2 && delay <= full, "attempt {attempt}: {delay:?} outside {full:?}/2..{full:?}");
        }
    }
}
