//! Attendance records (seed 004): organisers' events and registrations.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::AttendanceStore;
use crate::error::{StoreError, StoreResult};
use crate::model::*;

const ATTENDANCE_COLUMNS: &str = "event_id, organization_id, name, event_type, start_us, duration_minutes, location, \
                                  capacity, price, instructor, weather, created_at_us, updated_at_us, timezone";

fn attendance_event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttendanceEvent> {
    Ok(AttendanceEvent {
        event_id: row.get(0)?,
        organization_id: row.get(1)?,
        name: row.get(2)?,
        event_type: row.get(3)?,
        start_us: row.get(4)?,
        duration_minutes: row.get(5)?,
        location: row.get(6)?,
        capacity: row.get(7)?,
        price: row.get(8)?,
        instructor: row.get(9)?,
        weather: row.get(10)?,
        created_at_us: row.get(11)?,
        updated_at_us: row.get(12)?,
        timezone: row.get(13)?,
    })
}

fn registration_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Registration> {
    Ok(Registration {
        event_id: row.get(0)?,
        user_id: row.get(1)?,
        registered_at_us: row.get(2)?,
        attended: row.get(3)?,
        checked_in_at_us: row.get(4)?,
        attributes: row.get(5)?,
    })
}

#[async_trait]
impl AttendanceStore for SqliteStore {
    async fn upsert_attendance_event(&self, event: AttendanceEvent) -> StoreResult<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existed: bool =
                tx.query_row("SELECT count(*) FROM attendance_events WHERE event_id = ?1", [&event.event_id], |row| {
                    row.get::<_, i64>(0)
                })? > 0;
            tx.execute(
                &format!(
                    "INSERT INTO attendance_events ({ATTENDANCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT (event_id) DO UPDATE SET organization_id = excluded.organization_id, name = excluded.name,
                        event_type = excluded.event_type, start_us = excluded.start_us,
                        duration_minutes = excluded.duration_minutes, location = excluded.location,
                        capacity = excluded.capacity, price = excluded.price, instructor = excluded.instructor,
                        weather = excluded.weather, updated_at_us = excluded.updated_at_us, timezone = excluded.timezone"
                ),
                params![
                    event.event_id,
                    event.organization_id,
                    event.name,
                    event.event_type,
                    event.start_us,
                    event.duration_minutes,
                    event.location,
                    event.capacity,
                    event.price,
                    event.instructor,
                    event.weather,
                    event.created_at_us,
                    event.updated_at_us,
                    event.timezone
                ],
            )?;
            tx.commit()?;
            Ok(!existed)
        })
        .await
    }

    async fn attendance_event(&self, event_id: &str) -> StoreResult<Option<AttendanceEvent>> {
        let event_id = event_id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {ATTENDANCE_COLUMNS} FROM attendance_events WHERE event_id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([event_id], attendance_event_from_row).optional()?)
        })
        .await
    }

    async fn attendance_events(&self, query: AttendanceQuery) -> StoreResult<Vec<AttendanceEvent>> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {ATTENDANCE_COLUMNS} FROM attendance_events WHERE 1 = 1");
            let mut values: Vec<Value> = Vec::new();
            if let Some(organization) = query.organization_id {
                values.push(Value::Text(organization));
                sql.push_str(&format!(" AND organization_id = ?{}", values.len()));
            }
            if let Some(from) = query.from_us {
                values.push(Value::Integer(from));
                sql.push_str(&format!(" AND start_us >= ?{}", values.len()));
            }
            if let Some(to) = query.to_us {
                values.push(Value::Integer(to));
                sql.push_str(&format!(" AND start_us < ?{}", values.len()));
            }
            if let Some((start, id)) = query.after {
                values.push(Value::Integer(start));
                values.push(Value::Text(id));
                sql.push_str(&format!(" AND (start_us, event_id) > (?{}, ?{})", values.len() - 1, values.len()));
            }
            values.push(Value::Integer(i64::from(query.limit)));
            sql.push_str(&format!(" ORDER BY start_us, event_id LIMIT ?{}", values.len()));
            let events = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(values), attendance_event_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn delete_attendance_event(&self, event_id: &str) -> StoreResult<bool> {
        let event_id = event_id.to_owned();
        self.write(move |conn| Ok(conn.execute("DELETE FROM attendance_events WHERE event_id = ?1", [event_id])? > 0))
            .await
    }

    async fn upsert_registration(&self, registration: Registration) -> StoreResult<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let event_exists: bool = tx.query_row(
                "SELECT count(*) FROM attendance_events WHERE event_id = ?1",
                [&registration.event_id],
                |row| row.get::<_, i64>(0),
            )? > 0;
            if !event_exists {
                return Err(StoreError::NotFound);
            }
            let existed: bool = tx.query_row(
                "SELECT count(*) FROM attendance_registrations WHERE event_id = ?1 AND user_id = ?2",
                [&registration.event_id, &registration.user_id],
                |row| row.get::<_, i64>(0),
            )? > 0;
            tx.execute(
                "INSERT INTO attendance_registrations (event_id, user_id, registered_at_us, attended, checked_in_at_us, attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (event_id, user_id) DO UPDATE SET registered_at_us = excluded.registered_at_us,
                    attended = excluded.attended, checked_in_at_us = excluded.checked_in_at_us,
                    attributes = excluded.attributes",
                params![
                    registration.event_id,
                    registration.user_id,
                    registration.registered_at_us,
                    registration.attended,
                    registration.checked_in_at_us,
                    registration.attributes
                ],
            )?;
            tx.commit()?;
            Ok(!existed)
        })
        .await
    }

    async fn set_attended(
        &self,
        event_id: &str,
        user_id: &str,
        attended: bool,
        checked_in_at_us: Option<i64>,
    ) -> StoreResult<bool> {
        let (event_id, user_id) = (event_id.to_owned(), user_id.to_owned());
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE attendance_registrations SET attended = ?3, checked_in_at_us = ?4 WHERE event_id = ?1 AND user_id = ?2",
                params![event_id, user_id, attended, checked_in_at_us],
            )? > 0)
        })
        .await
    }

    async fn registrations(&self, event_ids: &[String]) -> StoreResult<Vec<Registration>> {
        let mut event_ids = event_ids.to_vec();
        event_ids.sort_unstable();
        event_ids.dedup();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, user_id, registered_at_us, attended, checked_in_at_us, attributes FROM attendance_registrations
                 WHERE event_id = ?1 ORDER BY user_id",
            )?;
            let mut registrations = Vec::new();
            for event_id in event_ids {
                for row in stmt.query_map([event_id], registration_from_row)? {
                    registrations.push(row?);
                }
            }
            Ok(registrations)
        })
        .await
    }

    async fn attendance_histories(&self, user_ids: &[String], before_us: i64) -> StoreResult<Vec<AttendanceHistory>> {
        // One query for every user: the ids travel as a JSON array.
        let ids = serde_json::to_string(user_ids).map_err(|error| StoreError::Other(Box::new(error)))?;
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT r.user_id, count(*), coalesce(sum(r.attended), 0) FROM attendance_registrations r
                     JOIN attendance_events e ON e.event_id = r.event_id
                     WHERE r.user_id IN (SELECT DISTINCT value FROM json_each(?1))
                       AND r.attended IS NOT NULL AND e.start_us < ?2
                     GROUP BY r.user_id ORDER BY r.user_id",
            )?;
            let histories = stmt
                .query_map(params![ids, before_us], |row| {
                    Ok(AttendanceHistory { user_id: row.get(0)?, registrations: row.get(1)?, attended: row.get(2)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(histories)
        })
        .await
    }

    async fn user_registrations(&self, user_id: &str) -> StoreResult<Vec<Registration>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT r.event_id, r.user_id, r.registered_at_us, r.attended, r.checked_in_at_us, r.attributes
                     FROM attendance_registrations r JOIN attendance_events e ON e.event_id = r.event_id
                     WHERE r.user_id = ?1 ORDER BY e.start_us, r.event_id",
            )?;
            let registrations = stmt.query_map([user_id], registration_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(registrations)
        })
        .await
    }

    async fn attendance_organization(&self, organization_id: &str) -> StoreResult<Option<AttendanceOrganization>> {
        let organization_id = organization_id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT organization_id, timezone, attributes, updated_at_us FROM attendance_organizations
                     WHERE organization_id = ?1",
                )?
                .query_row([organization_id], |row| {
                    Ok(AttendanceOrganization {
                        organization_id: row.get(0)?,
                        timezone: row.get(1)?,
                        attributes: row.get(2)?,
                        updated_at_us: row.get(3)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn put_attendance_organization(&self, organization: AttendanceOrganization) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO attendance_organizations (organization_id, timezone, attributes, updated_at_us)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (organization_id) DO UPDATE SET timezone = excluded.timezone,
                    attributes = excluded.attributes, updated_at_us = excluded.updated_at_us",
                params![
                    organization.organization_id,
                    organization.timezone,
                    organization.attributes,
                    organization.updated_at_us
                ],
            )?;
            Ok(())
        })
        .await
    }
}
