//! Attendance records (seed 004): organisers' events and registrations.

use async_trait::async_trait;

use super::PostgresStore;
use crate::AttendanceStore;
use crate::error::{StoreError, StoreResult};
use crate::model::*;

/// `event_id, user_id, registered_at_us, attended, checked_in_at_us, attributes`.
fn registration_from_row(row: &tokio_postgres::Row) -> Registration {
    Registration {
        event_id: row.get(0),
        user_id: row.get(1),
        registered_at_us: row.get(2),
        attended: row.get(3),
        checked_in_at_us: row.get(4),
        attributes: row.get(5),
    }
}

const ATTENDANCE_COLUMNS: &str = "event_id, organization_id, name, event_type, start_us, duration_minutes, location, \
                                  capacity, price, instructor, weather, created_at_us, updated_at_us, timezone";

fn attendance_event_from_row(row: &tokio_postgres::Row) -> AttendanceEvent {
    AttendanceEvent {
        event_id: row.get(0),
        organization_id: row.get(1),
        name: row.get(2),
        event_type: row.get(3),
        start_us: row.get(4),
        duration_minutes: row.get(5),
        location: row.get(6),
        capacity: row.get(7),
        price: row.get(8),
        instructor: row.get(9),
        weather: row.get(10),
        created_at_us: row.get(11),
        updated_at_us: row.get(12),
        timezone: row.get(13),
    }
}

#[async_trait]
impl AttendanceStore for PostgresStore {
    async fn upsert_attendance_event(&self, event: AttendanceEvent) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO attendance_events ({ATTENDANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (event_id) DO UPDATE SET organization_id = EXCLUDED.organization_id, name = EXCLUDED.name,
                        event_type = EXCLUDED.event_type, start_us = EXCLUDED.start_us,
                        duration_minutes = EXCLUDED.duration_minutes, location = EXCLUDED.location,
                        capacity = EXCLUDED.capacity, price = EXCLUDED.price, instructor = EXCLUDED.instructor,
                        weather = EXCLUDED.weather, updated_at_us = EXCLUDED.updated_at_us, timezone = EXCLUDED.timezone
                     RETURNING (xmax = 0)"
                ),
                &[
                    &event.event_id,
                    &event.organization_id,
                    &event.name,
                    &event.event_type,
                    &event.start_us,
                    &event.duration_minutes,
                    &event.location,
                    &event.capacity,
                    &event.price,
                    &event.instructor,
                    &event.weather,
                    &event.created_at_us,
                    &event.updated_at_us,
                    &event.timezone,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn attendance_event(&self, event_id: &str) -> StoreResult<Option<AttendanceEvent>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(&format!("SELECT {ATTENDANCE_COLUMNS} FROM attendance_events WHERE event_id = $1"), &[&event_id])
            .await?;
        Ok(row.as_ref().map(attendance_event_from_row))
    }

    async fn attendance_events(&self, query: AttendanceQuery) -> StoreResult<Vec<AttendanceEvent>> {
        let client = self.pool.get().await?;
        let (after_start, after_id) = match &query.after {
            Some((start, id)) => (Some(*start), Some(id.clone())),
            None => (None, None),
        };
        let rows = client
            .query(
                &format!(
                    "SELECT {ATTENDANCE_COLUMNS} FROM attendance_events
                     WHERE ($1::text IS NULL OR organization_id = $1) AND ($2::int8 IS NULL OR start_us >= $2)
                       AND ($3::int8 IS NULL OR start_us < $3)
                       AND ($4::int8 IS NULL OR (start_us, event_id) > ($4, $5::text))
                     ORDER BY start_us, event_id LIMIT $6"
                ),
                &[
                    &query.organization_id,
                    &query.from_us,
                    &query.to_us,
                    &after_start,
                    &after_id,
                    &i64::from(query.limit),
                ],
            )
            .await?;
        Ok(rows.iter().map(attendance_event_from_row).collect())
    }

    async fn delete_attendance_event(&self, event_id: &str) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        Ok(client.execute("DELETE FROM attendance_events WHERE event_id = $1", &[&event_id]).await? > 0)
    }

    async fn upsert_registration(&self, registration: Registration) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO attendance_registrations (event_id, user_id, registered_at_us, attended, checked_in_at_us, attributes)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (event_id, user_id) DO UPDATE SET registered_at_us = EXCLUDED.registered_at_us,
                    attended = EXCLUDED.attended, checked_in_at_us = EXCLUDED.checked_in_at_us,
                    attributes = EXCLUDED.attributes
                 RETURNING (xmax = 0)",
                &[
                    &registration.event_id,
                    &registration.user_id,
                    &registration.registered_at_us,
                    &registration.attended,
                    &registration.checked_in_at_us,
                    &registration.attributes,
                ],
            )
            .await
            .map_err(|error| match error.as_db_error() {
                Some(db) if db.code() == &tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION => {
                    StoreError::NotFound
                }
                _ => error.into(),
            })?;
        Ok(row.get(0))
    }

    async fn set_attended(
        &self,
        event_id: &str,
        user_id: &str,
        attended: bool,
        checked_in_at_us: Option<i64>,
    ) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE attendance_registrations SET attended = $3, checked_in_at_us = $4 WHERE event_id = $1 AND user_id = $2",
                &[&event_id, &user_id, &attended, &checked_in_at_us],
            )
            .await?
            > 0)
    }

    async fn registrations(&self, event_ids: &[String]) -> StoreResult<Vec<Registration>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event_id, user_id, registered_at_us, attended, checked_in_at_us, attributes FROM attendance_registrations
                 WHERE event_id = ANY($1::text[]) ORDER BY event_id, user_id",
                &[&event_ids],
            )
            .await?;
        Ok(rows.iter().map(registration_from_row).collect())
    }

    async fn attendance_histories(&self, user_ids: &[String], before_us: i64) -> StoreResult<Vec<AttendanceHistory>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT r.user_id, count(*), coalesce(sum(CASE WHEN r.attended THEN 1 ELSE 0 END), 0)::bigint
                 FROM attendance_registrations r JOIN attendance_events e ON e.event_id = r.event_id
                 WHERE r.user_id = ANY($1::text[]) AND r.attended IS NOT NULL AND e.start_us < $2
                 GROUP BY r.user_id ORDER BY r.user_id",
                &[&user_ids, &before_us],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AttendanceHistory { user_id: row.get(0), registrations: row.get(1), attended: row.get(2) })
            .collect())
    }

    async fn user_registrations(&self, user_id: &str) -> StoreResult<Vec<Registration>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT r.event_id, r.user_id, r.registered_at_us, r.attended, r.checked_in_at_us, r.attributes
                 FROM attendance_registrations r JOIN attendance_events e ON e.event_id = r.event_id
                 WHERE r.user_id = $1 ORDER BY e.start_us, r.event_id COLLATE \"C\"",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(registration_from_row).collect())
    }

    async fn attendance_organization(&self, organization_id: &str) -> StoreResult<Option<AttendanceOrganization>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT organization_id, timezone, attributes, updated_at_us FROM attendance_organizations
                 WHERE organization_id = $1",
                &[&organization_id],
            )
            .await?;
        Ok(row.map(|row| AttendanceOrganization {
            organization_id: row.get(0),
            timezone: row.get(1),
            attributes: row.get(2),
            updated_at_us: row.get(3),
        }))
    }

    async fn put_attendance_organization(&self, organization: AttendanceOrganization) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO attendance_organizations (organization_id, timezone, attributes, updated_at_us)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (organization_id) DO UPDATE SET timezone = EXCLUDED.timezone,
                    attributes = EXCLUDED.attributes, updated_at_us = EXCLUDED.updated_at_us",
                &[
                    &organization.organization_id,
                    &organization.timezone,
                    &organization.attributes,
                    &organization.updated_at_us,
                ],
            )
            .await?;
        Ok(())
    }
}
