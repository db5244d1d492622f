//! Accounts: creation, lookups, login state, declared profiles and their versions, API keys and
//! the audit log.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::PostgresStore;
use super::rows::{USER_COLUMNS, api_key_from_row, audit_from_row, user_from_row};
use crate::AccountStore;
use crate::error::{StoreError, StoreResult};
use crate::model::*;

impl PostgresStore {
    async fn find_user(&self, column: &str, value: &str) -> StoreResult<Option<UserRecord>> {
        let client = self.pool.get().await?;
        find_user(&client, column, value).await
    }
}

async fn find_user(client: &impl GenericClient, column: &str, value: &str) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
    let row = client.query_opt(&sql, &[&value]).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// `%part%` for (I)LIKE, with the wildcards of `part` taken literally (`\\` escapes by default).
fn like_pattern(part: &str) -> String {
    let escaped = part.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Maps a unique violation to the conflict it means for an account.
fn account_conflict(error: tokio_postgres::Error, account: &NewAccount) -> StoreError {
    let Some(db_error) = error.as_db_error() else {
        return error.into();
    };
    if db_error.code() != &tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
        return error.into();
    }
    match db_error.constraint() {
        Some("users_username_key") => StoreError::Conflict(format!(
            "username {} is already taken",
            account.username.as_deref().unwrap_or_default()
        )),
        Some("users_email_index_key") => StoreError::Conflict("email is already taken".to_owned()),
        _ => StoreError::Conflict(format!("user_id {} already has an account", account.user_id)),
    }
}

async fn create_account(client: &mut deadpool_postgres::Client, account: &NewAccount) -> StoreResult<UserRecord> {
    let tx = client.transaction().await?;
    // A user known only from tracking gains the account; an existing account is never replaced.
    let written = tx
        .execute(
            "INSERT INTO users (user_id, user_key, username, email_enc, email_index, password_hash, role, tier, profile_enc,
                                created_at_us, updated_at_us, token_generation)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
             ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, email_enc = EXCLUDED.email_enc,
                email_index = EXCLUDED.email_index, password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
                tier = EXCLUDED.tier, profile_enc = EXCLUDED.profile_enc, updated_at_us = EXCLUDED.updated_at_us,
                token_generation = EXCLUDED.token_generation
             WHERE users.password_hash IS NULL",
            &[
                &account.user_id,
                &account.user_key,
                &account.username,
                &account.email_enc,
                &account.email_index,
                &account.password_hash,
                &account.role.as_str(),
                &account.tier.as_str(),
                &account.profile_enc,
                &account.now_us,
                &account.token_generation,
            ],
        )
        .await;
    match written {
        Ok(1) => {}
        Ok(_) => {
            return Err(StoreError::Conflict(format!("user_id {} already has an account", account.user_id)));
        }
        Err(error) => return Err(account_conflict(error, account)),
    }
    let created = find_user(&tx, "user_id", &account.user_id).await?.ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(created)
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_account(&self, account: NewAccount) -> StoreResult<UserRecord> {
        let mut client = self.pool.get().await?;
        create_account(&mut client, &account).await
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        self.find_user("user_id", user_id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.find_user("username", username).await
    }

    async fn user_by_email_index(&self, email_index: &str) -> StoreResult<Option<UserRecord>> {
        self.find_user("email_index", email_index).await
    }

    async fn user_ids_of(&self, user_keys: &[String]) -> StoreResult<Vec<(String, String)>> {
        let client = self.pool.get().await?;
        let rows = client.query("SELECT user_key, user_id FROM users WHERE user_key = ANY($1)", &[&user_keys]).await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn token_generation(&self, user_id: &str) -> StoreResult<Option<i64>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT token_generation FROM users WHERE user_id = $1 AND password_hash IS NOT NULL",
                &[&user_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn renew_token_generation(&self, user_id: &str, generation: i64) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let changed = client
            .execute(
                "UPDATE users SET token_generation = $2 WHERE user_id = $1 AND password_hash IS NOT NULL",
                &[&user_id, &generation],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn count_admins(&self) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT count(*) FROM users WHERE role = 'admin' AND password_hash IS NOT NULL", &[])
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    async fn count_login_attempt(&self, pair: &LoginPair, now_us: i64) -> StoreResult<LoginAttempt> {
        let client = self.pool.get().await?;
        // Counts an attempt unless the pair is locked, atomically (the row lock orders parallel
        // attempts), so that parallel guesses cannot all slip under the limit.
        let counted = client
            .query_opt(
                "INSERT INTO login_attempts (login_key, network, attempts, last_attempt_us) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (login_key, network) DO UPDATE SET attempts = login_attempts.attempts + 1,
                     last_attempt_us = EXCLUDED.last_attempt_us
                 WHERE COALESCE(login_attempts.locked_until_us, 0) <= EXCLUDED.last_attempt_us
                 RETURNING attempts, lockouts",
                &[&pair.login_key, &pair.network, &now_us],
            )
            .await?;
        if let Some(row) = counted {
            return Ok(LoginAttempt::Counted { attempts: row.get(0), lockouts: row.get(1) });
        }
        let row = client
            .query_opt(
                "SELECT locked_until_us FROM login_attempts WHERE login_key = $1 AND network = $2",
                &[&pair.login_key, &pair.network],
            )
            .await?;
        let until_us: Option<i64> = row.and_then(|row| row.get(0));
        Ok(LoginAttempt::Locked { until_us: until_us.unwrap_or(now_us) })
    }

    async fn lock_login(&self, pair: &LoginPair, until_us: i64, now_us: i64) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let locked = client
            .execute(
                "UPDATE login_attempts SET attempts = 0, lockouts = lockouts + 1, locked_until_us = $3
                 WHERE login_key = $1 AND network = $2 AND COALESCE(locked_until_us, 0) <= $4",
                &[&pair.login_key, &pair.network, &until_us, &now_us],
            )
            .await?;
        Ok(locked > 0)
    }

    async fn clear_login_attempts(&self, pair: &LoginPair) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM login_attempts WHERE login_key = $1 AND network = $2",
                &[&pair.login_key, &pair.network],
            )
            .await?;
        Ok(())
    }

    async fn expire_login_attempts(&self, before_us: i64) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        Ok(client.execute("DELETE FROM login_attempts WHERE last_attempt_us < $1", &[&before_us]).await?)
    }

    async fn update_profile(
        &self,
        user_id: &str,
        profile_enc: &str,
        changed_by: &str,
        now_us: i64,
    ) -> StoreResult<i64> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The user's row lock orders concurrent updates: versions are numbered one at a time.
        let updated = tx
            .execute(
                "UPDATE users SET profile_enc = $2, updated_at_us = $3 WHERE user_id = $1",
                &[&user_id, &profile_enc, &now_us],
            )
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        let version: i64 = tx
            .query_one("SELECT coalesce(max(version), 0) + 1 FROM profile_versions WHERE user_id = $1", &[&user_id])
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO profile_versions (user_id, version, profile_enc, changed_by, created_at_us) VALUES ($1, $2, $3, $4, $5)",
            &[&user_id, &version, &profile_enc, &changed_by, &now_us],
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn profile_versions(&self, user_id: &str) -> StoreResult<Vec<ProfileVersion>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT version, profile_enc, changed_by, created_at_us FROM profile_versions WHERE user_id = $1 ORDER BY version",
                &[&user_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ProfileVersion {
                version: row.get(0),
                profile_enc: row.get(1),
                changed_by: row.get(2),
                created_at_us: row.get(3),
            })
            .collect())
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO api_keys (key_id, key_hash, name, scopes, created_at_us, revoked_at_us, tier) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &key.key_id,
                    &key.key_hash,
                    &key.name,
                    &key.scopes.join(","),
                    &key.created_at_us,
                    &key.revoked_at_us,
                    &key.tier.as_str(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT key_id, key_hash, name, scopes, created_at_us, revoked_at_us, tier FROM api_keys WHERE key_hash = $1",
                &[&key_hash],
            )
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn count_users(&self) -> StoreResult<UserCounts> {
        let client = self.pool.get().await?;
        let row = client.query_one("SELECT count(*), count(password_hash) FROM users", &[]).await?;
        Ok(UserCounts { users: row.get(0), accounts: row.get(1) })
    }

    async fn users_page(&self, query: UserPageQuery) -> StoreResult<Vec<UserRecord>> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE user_id COLLATE \"C\" > $1
             AND ($2::text IS NULL OR user_id ILIKE $2 OR username ILIKE $2)
             ORDER BY user_id COLLATE \"C\" LIMIT $3"
        );
        let pattern = query.search.as_deref().map(like_pattern);
        let after = query.after_user_id.unwrap_or_default();
        let rows = client.query(&sql, &[&after, &pattern, &i64::from(query.limit)]).await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO audit_log (at_us, action, actor, subject, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&entry.at_us, &entry.action, &entry.actor, &entry.subject, &entry.outcome, &entry.detail],
            )
            .await?;
        Ok(())
    }

    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT at_us, action, actor, subject, outcome, detail FROM audit_log ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(audit_from_row).collect())
    }
}
