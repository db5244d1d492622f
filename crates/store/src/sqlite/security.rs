//! Accounts' security in the primary file: role and tier changes with the tier history, the TOTP
//! second factor and one-time codes, the login history, and the outbox.

use async_trait::async_trait;
use footprint_analytics::{Role, Tier};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::SecurityStore;
use crate::error::StoreResult;
use crate::model::*;

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn update_grants(&self, user_id: &str, grants: GrantChange) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before: Option<(String, String)> = tx
                .query_row(
                    "SELECT role, tier FROM users WHERE user_id = ?1 AND password_hash IS NOT NULL",
                    [&user_id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((role, tier)) = before else { return Ok(false) };
            let new_role = grants.role.map(Role::as_str).filter(|new| *new != role);
            let new_tier = grants.tier.map(Tier::as_str).filter(|new| *new != tier);
            tx.execute(
                "UPDATE users SET role = coalesce(?2, role), tier = coalesce(?3, tier),
                    token_generation = CASE WHEN ?2 IS NULL THEN token_generation ELSE ?4 END, updated_at_us = ?5
                 WHERE user_id = ?1",
                params![user_id, new_role, new_tier, grants.new_generation, grants.now_us],
            )?;
            if let Some(new_tier) = new_tier {
                tx.execute(
                    "INSERT INTO tier_changes (user_id, from_tier, to_tier, changed_by, at_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![user_id, tier, new_tier, grants.changed_by, grants.now_us],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn tier_history(&self, user_id: &str) -> StoreResult<Vec<TierChange>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT from_tier, to_tier, changed_by, at_us FROM tier_changes WHERE user_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([&user_id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(from, to, changed_by, at_us)| {
                    Ok(TierChange { from_tier: parse_tier(&from)?, to_tier: parse_tier(&to)?, changed_by, at_us })
                })
                .collect()
        })
        .await
    }

    async fn mfa(&self, user_id: &str) -> StoreResult<Option<MfaRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT user_id, secret_enc, active, last_step, recovery, created_at_us FROM mfa_totp WHERE user_id = ?1",
                )?
                .query_row([&user_id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, bool>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, i64>(5)?,
                    ))
                })
                .optional()?;
            row.map(|(user_id, secret_enc, active, last_step, recovery, created_at_us)| {
                Ok(MfaRecord {
                    user_id,
                    secret_enc,
                    active,
                    last_step,
                    recovery_hashes: from_json(&recovery)?,
                    created_at_us,
                })
            })
            .transpose()
        })
        .await
    }

    async fn put_mfa(&self, record: MfaRecord) -> StoreResult<()> {
        let recovery = to_json(&record.recovery_hashes)?;
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO mfa_totp (user_id, secret_enc, active, last_step, recovery, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc, active = excluded.active,
                    last_step = excluded.last_step, recovery = excluded.recovery, created_at_us = excluded.created_at_us",
                params![record.user_id, record.secret_enc, record.active, record.last_step, recovery, record.created_at_us],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_mfa(&self, user_id: &str) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| Ok(conn.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [&user_id])? > 0)).await
    }

    async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE mfa_totp SET last_step = ?2 WHERE user_id = ?1 AND last_step < ?2",
                params![user_id, step],
            )? == 1)
        })
        .await
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool> {
        let (user_id, hash) = (user_id.to_owned(), hash.to_owned());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let kept: Option<String> = tx
                .query_row("SELECT recovery FROM mfa_totp WHERE user_id = ?1 AND active = 1", [&user_id], |row| {
                    row.get(0)
                })
                .optional()?;
            let Some(kept) = kept else { return Ok(false) };
            let mut hashes: Vec<String> = from_json(&kept)?;
            let before = hashes.len();
            hashes.retain(|kept| kept != &hash);
            if hashes.len() == before {
                return Ok(false);
            }
            let left = to_json(&hashes)?;
            tx.execute("UPDATE mfa_totp SET recovery = ?2 WHERE user_id = ?1", params![user_id, left])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn record_login(&self, login: LoginRecord) -> StoreResult<()> {
        let reasons = to_json(&login.reasons)?;
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO login_history (user_id, at_us, network, device, hour, outcome, score, reasons)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    login.user_id,
                    login.at_us,
                    login.network,
                    login.device,
                    login.hour,
                    login.outcome,
                    login.score,
                    reasons
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn login_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<LoginRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_id, at_us, network, device, hour, outcome, score, reasons FROM login_history
                 WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![user_id, limit], |row| {
                    Ok((
                        LoginRecord {
                            user_id: row.get(0)?,
                            at_us: row.get(1)?,
                            network: row.get(2)?,
                            device: row.get(3)?,
                            hour: row.get(4)?,
                            outcome: row.get(5)?,
                            score: row.get(6)?,
                            reasons: Vec::new(),
                        },
                        row.get::<_, String>(7)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(record, reasons)| Ok(LoginRecord { reasons: from_json(&reasons)?, ..record }))
                .collect()
        })
        .await
    }

    async fn failing_logins_on_network(
        &self,
        network: &str,
        since_us: i64,
        except_login_key: &str,
    ) -> StoreResult<u32> {
        let (network, except) = (network.to_owned(), except_login_key.to_owned());
        self.read(move |conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM login_attempts WHERE network = ?1 AND attempts > 0 AND last_attempt_us >= ?2 AND login_key <> ?3",
                params![network, since_us, except],
                |row| row.get(0),
            )?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn append_outbox(&self, message: OutboxMessage) -> StoreResult<i64> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO outbox (user_id, channel, recipient_enc, subject, body_enc, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    message.user_id,
                    message.channel,
                    message.recipient_enc,
                    message.subject,
                    message.body_enc,
                    message.created_at_us
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    async fn outbox(&self, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, user_id, channel, recipient_enc, subject, body_enc, created_at_us FROM outbox ORDER BY id DESC LIMIT ?1",
            )?;
            let messages = stmt
                .query_map([limit], |row| {
                    Ok(OutboxMessage {
                        id: row.get(0)?,
                        user_id: row.get(1)?,
                        channel: row.get(2)?,
                        recipient_enc: row.get(3)?,
                        subject: row.get(4)?,
                        body_enc: row.get(5)?,
                        created_at_us: row.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(messages)
        })
        .await
    }

    async fn put_mfa_code(&self, user_id: &str, code_hash: &str, expires_at_us: i64) -> StoreResult<()> {
        let (user_id, code_hash) = (user_id.to_owned(), code_hash.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO mfa_codes (user_id, code_hash, expires_at_us) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at_us = excluded.expires_at_us",
                params![user_id, code_hash, expires_at_us],
            )?;
            Ok(())
        })
        .await
    }

    async fn take_mfa_code(&self, user_id: &str, code_hash: &str, now_us: i64) -> StoreResult<bool> {
        let (user_id, code_hash) = (user_id.to_owned(), code_hash.to_owned());
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM mfa_codes WHERE user_id = ?1 AND code_hash = ?2 AND expires_at_us >= ?3",
                params![user_id, code_hash, now_us],
            )? == 1)
        })
        .await
    }
}
