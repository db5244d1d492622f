//! Every row of every table, as text: what an auditor (or the erasure tests) reads to check
//! that a value appears nowhere in a store. Slow by design: it reads everything.

use rusqlite::OpenFlags;

use crate::StoreLocation;
use crate::error::{StoreError, StoreResult};

/// `(table, row as text)` for every row of every table of the store at `location` (for
/// SQLite, the main, derived and log files; for PostgreSQL, the connection's schema).
pub async fn every_row(location: &StoreLocation) -> StoreResult<Vec<(String, String)>> {
    match location {
        StoreLocation::Sqlite(path) => {
            let paths = crate::sqlite::files::store_files(path);
            tokio::task::spawn_blocking(move || {
                let mut rows = Vec::new();
                for path in paths.iter().filter(|path| path.exists()) {
                    sqlite_rows(path, &mut rows)?;
                }
                Ok(rows)
            })
            .await?
        }
        StoreLocation::Postgres(url) => postgres_rows(url).await,
    }
}

fn sqlite_rows(path: &std::path::Path, rows: &mut Vec<(String, String)>) -> StoreResult<()> {
    let conn = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let columns = stmt.column_count();
        let mut query = stmt.query([])?;
        while let Some(row) = query.next()? {
            let mut text = Vec::with_capacity(columns);
            for column in 0..columns {
                text.push(match row.get_ref(column)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                    rusqlite::types::ValueRef::Integer(value) => value.to_string(),
                    rusqlite::types::ValueRef::Real(value) => value.to_string(),
                    rusqlite::types::ValueRef::Text(value) | rusqlite::types::ValueRef::Blob(value) => {
                        String::from_utf8_lossy(value).into_owned()
                    }
                });
            }
            rows.push((table.clone(), text.join("|")));
        }
    }
    Ok(())
}

async fn postgres_rows(url: &str) -> StoreResult<Vec<(String, String)>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|error| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {error}")))?;
    let connection = tokio::spawn(connection);
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut rows = Vec::new();
    for table in tables {
        for row in client.query(&format!("SELECT t::text FROM \"{table}\" t"), &[]).await? {
            rows.push((table.clone(), row.get(0)));
        }
    }
    drop(client);
    let _ = connection.await;
    Ok(rows)
}
