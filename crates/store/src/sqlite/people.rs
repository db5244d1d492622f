//! What a commit (or a bulk load) reads and records of people in the primary file: whether a
//! user was seen before and their latest consent; the consent records and first sightings a
//! batch's plan adds; and the values of an event's row, as a commit and a bulk load write it.

use footprint_analytics::Consent;
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use crate::error::StoreResult;
use crate::model::{ConsentRecord, NewEvent};
use crate::plan::{BatchPlan, RecordedConsent};

pub(super) fn insert_consent(tx: &Connection, record: &ConsentRecord) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO consents (user_id, analytics, preferences, improvement, source, recorded_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        record.user_id,
        record.consent.analytics,
        record.consent.preferences,
        record.consent.improvement,
        record.source,
        record.recorded_at_us
    ])?;
    Ok(())
}

/// Whether the store has seen an event of the user, and their latest recorded consent, as
/// `conn` sees them.
pub(super) fn recorded_user(conn: &Connection, user_id: &str) -> StoreResult<(bool, Option<RecordedConsent>)> {
    let known: bool = conn
        .prepare_cached("SELECT count(*) > 0 FROM users WHERE user_id = ?1 AND first_seen_us IS NOT NULL")?
        .query_row([user_id], |row| row.get(0))?;
    let consent = conn
        .prepare_cached(
            "SELECT analytics, preferences, improvement, recorded_at_us FROM consents WHERE user_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([user_id], |row| {
            Ok(RecordedConsent {
                consent: Consent { analytics: row.get(0)?, preferences: row.get(1)?, improvement: row.get(2)? },
                recorded_at_us: row.get(3)?,
            })
        })
        .optional()?;
    Ok((known, consent))
}

/// Writes what a plan records of people, in the primary file: its consent records and a row
/// for each user seen for the first time.
pub(super) fn write_people(tx: &Connection, plan: &BatchPlan) -> StoreResult<()> {
    for record in &plan.consents {
        insert_consent(tx, record)?;
    }
    let mut insert_user = tx.prepare_cached(
        "INSERT INTO users (user_id, user_key, first_seen_us, created_at_us, updated_at_us) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (user_id) DO UPDATE SET first_seen_us = coalesce(users.first_seen_us, excluded.first_seen_us)",
    )?;
    for user in &plan.new_users {
        insert_user.execute(params![user.user_id, user.user_key, user.first_seen_us, user.now_us])?;
    }
    Ok(())
}

/// The values of an event's row in `events` or `event_log`, in their columns' order: `seq`,
/// `event_id`, `user_key`, `message_id`, `session_id`, `type`, `properties`, `context`, `ts_us`,
/// `received_us`.
pub(super) fn event_row<'a>(seq: &'a i64, event: &'a NewEvent, session_id: &'a dyn ToSql) -> [&'a dyn ToSql; 10] {
    [
        seq,
        &event.event_id,
        &event.user_key,
        &event.message_id,
        session_id,
        &event.event_type,
        &event.properties,
        &event.context,
        &event.timestamp_us,
        &event.received_us,
    ]
}
