//! Accounts in the primary file: creation, lookups, login state, declared profiles and their
//! versions, API keys and the audit log.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteStore;
use super::rows::{USER_COLUMNS, api_key_from_row, user_from_row};
use crate::AccountStore;
use crate::error::{StoreError, StoreResult};
use crate::model::*;

fn find_user(conn: &Connection, column: &str, value: &str) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
    let row = conn.prepare_cached(&sql)?.query_row([value], user_from_row).optional()?;
    row.transpose()
}

/// `%part%` for LIKE, with the wildcards of `part` taken literally.
fn like_pattern(part: &str) -> String {
    let escaped = part.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn taken_by_other(tx: &Transaction<'_>, column: &str, value: &str, user_id: &str) -> StoreResult<bool> {
    let sql = format!("SELECT count(*) > 0 FROM users WHERE {column} = ?1 AND user_id <> ?2");
    Ok(tx.query_row(&sql, params![value, user_id], |row| row.get(0))?)
}

/// Counts an attempt unless the pair is locked, atomically, so that parallel guesses cannot
/// all slip under the limit.
const COUNT_LOGIN_ATTEMPT: &str = "INSERT INTO login_attempts (login_key, network, attempts, last_attempt_us)
    VALUES (?1, ?2, 1, ?3)
    ON CONFLICT (login_key, network) DO UPDATE SET attempts = login_attempts.attempts + 1,
        last_attempt_us = excluded.last_attempt_us
    WHERE coalesce(login_attempts.locked_until_us, 0) <= excluded.last_attempt_us
    RETURNING attempts, lockouts";

const LOCK_LOGIN: &str = "UPDATE login_attempts SET attempts = 0, lockouts = lockouts + 1, locked_until_us = ?3
    WHERE login_key = ?1 AND network = ?2 AND coalesce(locked_until_us, 0) <= ?4";

const UPSERT_ACCOUNT: &str =
    "INSERT INTO users (user_id, user_key, username, email_enc, email_index, password_hash, role, tier,
                       profile_enc, created_at_us, updated_at_us, token_generation)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
    ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, email_enc = excluded.email_enc,
        email_index = excluded.email_index, password_hash = excluded.password_hash, role = excluded.role,
        tier = excluded.tier, profile_enc = excluded.profile_enc, updated_at_us = excluded.updated_at_us,
        token_generation = excluded.token_generation
    WHERE users.password_hash IS NULL";

fn create_account(conn: &mut Connection, account: &NewAccount) -> StoreResult<UserRecord> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(username) = &account.username
        && taken_by_other(&tx, "username", username, &account.user_id)?
    {
        return Err(StoreError::Conflict(format!("username {username} is already taken")));
    }
    if let Some(index) = &account.email_index
        && taken_by_other(&tx, "email_index", index, &account.user_id)?
    {
        return Err(StoreError::Conflict("email is already taken".to_owned()));
    }
    // A user known only from tracking gains the account; an existing account is never replaced.
    let written = tx.execute(
        UPSERT_ACCOUNT,
        params![
            account.user_id,
            account.user_key,
            account.username,
            account.email_enc,
            account.email_index,
            account.password_hash,
            account.role.as_str(),
            account.tier.as_str(),
            account.profile_enc,
            account.now_us,
            account.token_generation
        ],
    )?;
    if written == 0 {
        return Err(StoreError::Conflict(format!("user_id {} already has an account", account.user_id)));
    }
    let created = find_user(&tx, "user_id", &account.user_id)?.ok_or(StoreError::NotFound)?;
    tx.commit()?;
    Ok(created)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: NewAccount) -> StoreResult<UserRecord> {
        self.write(move |conn| create_account(conn, &account)).await
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| find_user(conn, "user_id", &user_id)).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |conn| find_user(conn, "username", &username)).await
    }

    async fn user_by_email_index(&self, email_index: &str) -> StoreResult<Option<UserRecord>> {
        let email_index = email_index.to_owned();
        self.read(move |conn| find_user(conn, "email_index", &email_index)).await
    }

    async fn user_ids_of(&self, user_keys: &[String]) -> StoreResult<Vec<(String, String)>> {
        let keys = user_keys.to_vec();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT user_id FROM users WHERE user_key = ?1")?;
            let mut found = Vec::new();
            for key in keys {
                if let Some(user_id) = stmt.query_row([&key], |row| row.get::<_, String>(0)).optional()? {
                    found.push((key, user_id));
                }
            }
            Ok(found)
        })
        .await
    }

    async fn token_generation(&self, user_id: &str) -> StoreResult<Option<i64>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let generation = conn
                .prepare_cached("SELECT token_generation FROM users WHERE user_id = ?1 AND password_hash IS NOT NULL")?
                .query_row([user_id], |row| row.get(0))
                .optional()?;
            Ok(generation)
        })
        .await
    }

    async fn renew_token_generation(&self, user_id: &str, generation: i64) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE users SET token_generation = ?2 WHERE user_id = ?1 AND password_hash IS NOT NULL",
                rusqlite::params![user_id, generation],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn count_admins(&self) -> StoreResult<u64> {
        self.read(|conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM users WHERE role = 'admin' AND password_hash IS NOT NULL",
                [],
                |row| row.get(0),
            )?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn count_login_attempt(&self, pair: &LoginPair, now_us: i64) -> StoreResult<LoginAttempt> {
        let pair = pair.clone();
        self.write(move |conn| {
            let counted = conn
                .prepare_cached(COUNT_LOGIN_ATTEMPT)?
                .query_row(params![pair.login_key, pair.network, now_us], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            if let Some((attempts, lockouts)) = counted {
                return Ok(LoginAttempt::Counted { attempts, lockouts });
            }
            let until_us: Option<i64> = conn.query_row(
                "SELECT locked_until_us FROM login_attempts WHERE login_key = ?1 AND network = ?2",
                params![pair.login_key, pair.network],
                |row| row.get(0),
            )?;
            Ok(LoginAttempt::Locked { until_us: until_us.unwrap_or(now_us) })
        })
        .await
    }

    async fn lock_login(&self, pair: &LoginPair, until_us: i64, now_us: i64) -> StoreResult<bool> {
        let pair = pair.clone();
        self.write(move |conn| {
            let locked =
                conn.prepare_cached(LOCK_LOGIN)?.execute(params![pair.login_key, pair.network, until_us, now_us])?;
            Ok(locked > 0)
        })
        .await
    }

    async fn clear_login_attempts(&self, pair: &LoginPair) -> StoreResult<()> {
        let pair = pair.clone();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM login_attempts WHERE login_key = ?1 AND network = ?2")?
                .execute(params![pair.login_key, pair.network])?;
            Ok(())
        })
        .await
    }

    async fn expire_login_attempts(&self, before_us: i64) -> StoreResult<u64> {
        self.write(move |conn| {
            Ok(conn.execute("DELETE FROM login_attempts WHERE last_attempt_us < ?1", [before_us])? as u64)
        })
        .await
    }

    async fn update_profile(
        &self,
        user_id: &str,
        profile_enc: &str,
        changed_by: &str,
        now_us: i64,
    ) -> StoreResult<i64> {
        let (user_id, profile_enc, changed_by) = (user_id.to_owned(), profile_enc.to_owned(), changed_by.to_owned());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let updated = tx.execute(
                "UPDATE users SET profile_enc = ?2, updated_at_us = ?3 WHERE user_id = ?1",
                params![user_id, profile_enc, now_us],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            let version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM profile_versions WHERE user_id = ?1",
                [&user_id],
                |row| row.get(0),
            )?;
            tx.execute(
                "INSERT INTO profile_versions (user_id, version, profile_enc, changed_by, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user_id, version, profile_enc, changed_by, now_us],
            )?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    async fn profile_versions(&self, user_id: &str) -> StoreResult<Vec<ProfileVersion>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT version, profile_enc, changed_by, created_at_us FROM profile_versions WHERE user_id = ?1 ORDER BY version",
            )?;
            let versions = stmt
                .query_map([user_id], |row| {
                    Ok(ProfileVersion {
                        version: row.get(0)?,
                        profile_enc: row.get(1)?,
                        changed_by: row.get(2)?,
                        created_at_us: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(versions)
        })
        .await
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_keys (key_id, key_hash, name, scopes, created_at_us, revoked_at_us, tier) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.key_id,
                    key.key_hash,
                    key.name,
                    key.scopes.join(","),
                    key.created_at_us,
                    key.revoked_at_us,
                    key.tier.as_str()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let key_hash = key_hash.to_owned();
        self.read(move |conn| {
            let key = conn
                .prepare_cached(
                    "SELECT key_id, key_hash, name, scopes, created_at_us, revoked_at_us, tier FROM api_keys WHERE key_hash = ?1",
                )?
                .query_row([key_hash], api_key_from_row)
                .optional()?;
            Ok(key)
        })
        .await
    }

    async fn count_users(&self) -> StoreResult<UserCounts> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*), count(password_hash) FROM users", [], |row| {
                Ok(UserCounts { users: row.get(0)?, accounts: row.get(1)? })
            })?)
        })
        .await
    }

    async fn users_page(&self, query: UserPageQuery) -> StoreResult<Vec<UserRecord>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE user_id > ?1
                 AND (?2 IS NULL OR user_id LIKE ?2 ESCAPE '\\' OR username LIKE ?2 ESCAPE '\\')
                 ORDER BY user_id LIMIT ?3"
            );
            let pattern = query.search.as_deref().map(like_pattern);
            let after = query.after_user_id.unwrap_or_default();
            let mut stmt = conn.prepare_cached(&sql)?;
            let users =
                stmt.query_map(params![after, pattern, query.limit], user_from_row)?.collect::<Result<Vec<_>, _>>()?;
            users.into_iter().collect()
        })
        .await
    }

    async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO audit_log (at_us, action, actor, subject, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![entry.at_us, entry.action, entry.actor, entry.subject, entry.outcome, entry.detail],
            )?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at_us, action, actor, subject, outcome, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
            )?;
            let entries = stmt
                .query_map([limit], |row| {
                    Ok(AuditEntry {
                        at_us: row.get(0)?,
                        action: row.get(1)?,
                        actor: row.get(2)?,
                        subject: row.get(3)?,
                        outcome: row.get(4)?,
                        detail: row.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(entries)
        })
        .await
    }
}
