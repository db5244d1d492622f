//! Row mapping for the SQLite backend.

use footprint_analytics::Consent;
use rusqlite::Row;

use crate::error::{StoreError, StoreResult};
use crate::model::{ApiKeyRecord, ConsentRecord, IdentityLink, StoredEvent, UserRecord};

pub(super) const USER_COLUMNS: &str = "user_id, user_key, username, email_enc, email_index, password_hash, role, tier, \
     profile_enc, first_seen_us, created_at_us, updated_at_us, token_generation";

/// The outer result is the driver's; the inner one rejects a role or tier the code does not know.
pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<UserRecord>> {
    let role: String = row.get(6)?;
    let tier: String = row.get(7)?;
    let (role, tier) = match (role.parse(), tier.parse()) {
        (Ok(role), Ok(tier)) => (role, tier),
        (Err(error), _) | (_, Err(error)) => return Ok(Err(StoreError::Other(Box::new(error)))),
    };
    Ok(Ok(UserRecord {
        user_id: row.get(0)?,
        user_key: row.get(1)?,
        username: row.get(2)?,
        email_enc: row.get(3)?,
        email_index: row.get(4)?,
        password_hash: row.get(5)?,
        role,
        tier,
        profile_enc: row.get(8)?,
        first_seen_us: row.get(9)?,
        created_at_us: row.get(10)?,
        updated_at_us: row.get(11)?,
        token_generation: row.get(12)?,
    }))
}

pub(super) fn consent_from_row(row: &Row<'_>) -> rusqlite::Result<ConsentRecord> {
    Ok(ConsentRecord {
        user_id: row.get(0)?,
        consent: Consent { analytics: row.get(1)?, preferences: row.get(2)?, improvement: row.get(3)? },
        source: row.get(4)?,
        recorded_at_us: row.get(5)?,
    })
}

pub(super) fn api_key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let scopes: String = row.get(3)?;
    Ok(ApiKeyRecord {
        key_id: row.get(0)?,
        key_hash: row.get(1)?,
        name: row.get(2)?,
        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        created_at_us: row.get(4)?,
        revoked_at_us: row.get(5)?,
        tier: {
            let tier: String = row.get(6)?;
            tier.parse().map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(error))
            })?
        },
    })
}

pub(super) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get(0)?,
        event_id: row.get(1)?,
        user_id: row.get(2)?,
        user_key: row.get(3)?,
        username: row.get(4)?,
        message_id: row.get(5)?,
        session_id: row.get(6)?,
        event_type: row.get(7)?,
        properties: row.get(8)?,
        context: row.get(9)?,
        timestamp_us: row.get(10)?,
        received_us: row.get(11)?,
    })
}

/// The columns `link_from_row` reads, in order.
pub(super) const LINK_COLUMNS: &str = "anonymous_key, anonymous_id, user_id, linked_at_us";

pub(super) fn link_from_row(row: &Row<'_>) -> rusqlite::Result<IdentityLink> {
    Ok(IdentityLink {
        anonymous_key: row.get(0)?,
        anonymous_id: row.get(1)?,
        user_id: row.get(2)?,
        linked_at_us: row.get(3)?,
    })
}
