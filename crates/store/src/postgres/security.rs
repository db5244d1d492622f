//! Accounts' security in the database: role and tier changes with the tier history, the TOTP
//! second factor and one-time codes, the login history, and the outbox.

use async_trait::async_trait;
use footprint_analytics::{Role, Tier};

use super::PostgresStore;
use crate::SecurityStore;
use crate::error::StoreResult;
use crate::model::*;

#[async_trait]
impl SecurityStore for PostgresStore {
    async fn update_grants(&self, user_id: &str, grants: GrantChange) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(before) = tx
            .query_opt(
                "SELECT role, tier FROM users WHERE user_id = $1 AND password_hash IS NOT NULL FOR UPDATE",
                &[&user_id],
            )
            .await?
        else {
            return Ok(false);
        };
        let (role, tier): (String, String) = (before.get(0), before.get(1));
        let new_role = grants.role.map(Role::as_str).filter(|new| *new != role);
        let new_tier = grants.tier.map(Tier::as_str).filter(|new| *new != tier);
        tx.execute(
            "UPDATE users SET role = coalesce($2, role), tier = coalesce($3, tier),
                token_generation = CASE WHEN $2::text IS NULL THEN token_generation ELSE $4 END, updated_at_us = $5
             WHERE user_id = $1",
            &[&user_id, &new_role, &new_tier, &grants.new_generation, &grants.now_us],
        )
        .await?;
        if let Some(new_tier) = new_tier {
            tx.execute(
                "INSERT INTO tier_changes (user_id, from_tier, to_tier, changed_by, at_us) VALUES ($1, $2, $3, $4, $5)",
                &[&user_id, &tier, &new_tier, &grants.changed_by, &grants.now_us],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn tier_history(&self, user_id: &str) -> StoreResult<Vec<TierChange>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT from_tier, to_tier, changed_by, at_us FROM tier_changes WHERE user_id = $1 ORDER BY id",
                &[&user_id],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(TierChange {
                    from_tier: parse_tier(row.get(0))?,
                    to_tier: parse_tier(row.get(1))?,
                    changed_by: row.get(2),
                    at_us: row.get(3),
                })
            })
            .collect()
    }

    async fn mfa(&self, user_id: &str) -> StoreResult<Option<MfaRecord>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT user_id, secret_enc, active, last_step, recovery, created_at_us FROM mfa_totp WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        row.map(|row| {
            let recovery: String = row.get(4);
            Ok(MfaRecord {
                user_id: row.get(0),
                secret_enc: row.get(1),
                active: row.get(2),
                last_step: row.get(3),
                recovery_hashes: from_json(&recovery)?,
                created_at_us: row.get(5),
            })
        })
        .transpose()
    }

    async fn put_mfa(&self, record: MfaRecord) -> StoreResult<()> {
        let recovery = to_json(&record.recovery_hashes)?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO mfa_totp (user_id, secret_enc, active, last_step, recovery, created_at_us) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (user_id) DO UPDATE SET secret_enc = EXCLUDED.secret_enc, active = EXCLUDED.active,
                    last_step = EXCLUDED.last_step, recovery = EXCLUDED.recovery, created_at_us = EXCLUDED.created_at_us",
                &[&record.user_id, &record.secret_enc, &record.active, &record.last_step, &recovery, &record.created_at_us],
            )
            .await?;
        Ok(())
    }

    async fn delete_mfa(&self, user_id: &str) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        Ok(client.execute("DELETE FROM mfa_totp WHERE user_id = $1", &[&user_id]).await? > 0)
    }

    async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let changed = client
            .execute("UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND last_step < $2", &[&user_id, &step])
            .await?;
        Ok(changed == 1)
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) =
            tx.query_opt("SELECT recovery FROM mfa_totp WHERE user_id = $1 AND active FOR UPDATE", &[&user_id]).await?
        else {
            return Ok(false);
        };
        let kept: String = row.get(0);
        let mut hashes: Vec<String> = from_json(&kept)?;
        let before = hashes.len();
        hashes.retain(|kept| kept != hash);
        if hashes.len() == before {
            return Ok(false);
        }
        let left = to_json(&hashes)?;
        tx.execute("UPDATE mfa_totp SET recovery = $2 WHERE user_id = $1", &[&user_id, &left]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_login(&self, login: LoginRecord) -> StoreResult<()> {
        let reasons = to_json(&login.reasons)?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO login_history (user_id, at_us, network, device, hour, outcome, score, reasons)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &login.user_id,
                    &login.at_us,
                    &login.network,
                    &login.device,
                    &login.hour,
                    &login.outcome,
                    &login.score,
                    &reasons,
                ],
            )
            .await?;
        Ok(())
    }

    async fn login_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<LoginRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT user_id, at_us, network, device, hour, outcome, score, reasons FROM login_history
                 WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
                &[&user_id, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let reasons: String = row.get(7);
                Ok(LoginRecord {
                    user_id: row.get(0),
                    at_us: row.get(1),
                    network: row.get(2),
                    device: row.get(3),
                    hour: row.get(4),
                    outcome: row.get(5),
                    score: row.get(6),
                    reasons: from_json(&reasons)?,
                })
            })
            .collect()
    }

    async fn failing_logins_on_network(
        &self,
        network: &str,
        since_us: i64,
        except_login_key: &str,
    ) -> StoreResult<u32> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM login_attempts WHERE network = $1 AND attempts > 0 AND last_attempt_us >= $2 AND login_key <> $3",
                &[&network, &since_us, &except_login_key],
            )
            .await?;
        Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
    }

    async fn append_outbox(&self, message: OutboxMessage) -> StoreResult<i64> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO outbox (user_id, channel, recipient_enc, subject, body_enc, created_at_us)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &message.user_id,
                    &message.channel,
                    &message.recipient_enc,
                    &message.subject,
                    &message.body_enc,
                    &message.created_at_us,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn outbox(&self, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, user_id, channel, recipient_enc, subject, body_enc, created_at_us FROM outbox ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| OutboxMessage {
                id: row.get(0),
                user_id: row.get(1),
                channel: row.get(2),
                recipient_enc: row.get(3),
                subject: row.get(4),
                body_enc: row.get(5),
                created_at_us: row.get(6),
            })
            .collect())
    }

    async fn put_mfa_code(&self, user_id: &str, code_hash: &str, expires_at_us: i64) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO mfa_codes (user_id, code_hash, expires_at_us) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at_us = EXCLUDED.expires_at_us",
                &[&user_id, &code_hash, &expires_at_us],
            )
            .await?;
        Ok(())
    }

    async fn take_mfa_code(&self, user_id: &str, code_hash: &str, now_us: i64) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let deleted = client
            .execute(
                "DELETE FROM mfa_codes WHERE user_id = $1 AND code_hash = $2 AND expires_at_us >= $3",
                &[&user_id, &code_hash, &now_us],
            )
            .await?;
        Ok(deleted == 1)
    }
}
