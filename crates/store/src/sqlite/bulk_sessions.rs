//! The end of a bulk load, for users whose events came out of time order: their sessions are
//! worked out again over their events in time order, by the gap rule of commits (a session id
//! the client gave is kept, and continued by the events after it), and their first time is
//! given to their rows in `users`.
//!
//! The events are read in one sequential scan per pass and sorted in memory by user, time and
//! `seq` (SQLite's sorter over the text columns took 4.6 s of a 12.7 s load of 1 M events);
//! the users are split into passes so that a pass holds at most [`ROWS_PER_PASS`] events
//! (about 40 bytes each, plus their ids). Only the rows whose session changes are written, in
//! `seq` order.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::{Connection, params};

use crate::error::StoreResult;

/// Most events held in memory at once.
const ROWS_PER_PASS: usize = 2_000_000;

/// An event as the pass sees it.
struct Row {
    user: u32,
    ts_us: i64,
    seq: i64,
    /// Its session was given by the client: kept, and continued.
    given: bool,
    /// Where its `event_id` is in the pass's text.
    id: (u32, u32),
    /// The hash of its stored `session_id`.
    session: u64,
}

/// What an event's session is named after: the `event_id` of the event that opens it, or the
/// stored session id of the event whose session was given.
#[derive(Clone, Copy)]
enum Label {
    Opener(usize),
    Given(usize),
}

/// A text column read in place.
fn text<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(column)?.as_str().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Works the sessions of `out_of_order`'s users out again (see the module documentation). The
/// events whose session the client gave are those in `temp.bulk_given_sessions`.
pub(super) fn sessions_in_time_order(
    conn: &Connection,
    out_of_order: &HashSet<String>,
    session_gap_us: i64,
) -> StoreResult<()> {
    in_passes(conn, out_of_order, session_gap_us, ROWS_PER_PASS)
}

fn in_passes(
    conn: &Connection,
    out_of_order: &HashSet<String>,
    session_gap_us: i64,
    rows_per_pass: usize,
) -> StoreResult<()> {
    if out_of_order.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&str> = out_of_order.iter().map(String::as_str).collect();
    keys.sort_unstable();
    let numbers: HashMap<&str, u32> =
        keys.iter().enumerate().map(|(n, key)| (*key, u32::try_from(n).unwrap_or(u32::MAX))).collect();
    let total: i64 = conn.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
    let passes = usize::try_from(total).unwrap_or(usize::MAX).div_ceil(rows_per_pass.max(1)).max(1);
    let any_given: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM temp.bulk_given_sessions)", [], |row| row.get(0))?;
    let scan = if any_given {
        "SELECT e.seq, e.user_key, e.ts_us, e.event_id, e.session_id, g.seq IS NOT NULL FROM events e
         LEFT JOIN temp.bulk_given_sessions g ON g.seq = e.seq"
    } else {
        "SELECT seq, user_key, ts_us, event_id, session_id, 0 FROM events"
    };
    let mut relabelled = 0usize;
    for pass in 0..passes {
        relabelled += one_pass(conn, scan, &keys, &numbers, session_gap_us, (pass, passes))?;
    }
    tracing::debug!(passes, relabelled, "sessions worked out again in time order");
    Ok(())
}

/// One pass over the users whose number is `pass.0` modulo `pass.1`; returns the events
/// relabelled.
fn one_pass(
    conn: &Connection,
    scan: &str,
    keys: &[&str],
    numbers: &HashMap<&str, u32>,
    session_gap_us: i64,
    (pass, passes): (usize, usize),
) -> StoreResult<usize> {
    let mut rows: Vec<Row> = Vec::new();
    let mut ids = String::new();
    {
        let mut scan = conn.prepare(scan)?;
        let mut scanned = scan.query([])?;
        while let Some(row) = scanned.next()? {
            let Some(&user) = numbers.get(text(row, 1)?) else { continue };
            if user as usize % passes != pass {
                continue;
            }
            let seq: i64 = row.get(0)?;
            let event_id = text(row, 3)?;
            let start = u32::try_from(ids.len()).unwrap_or(u32::MAX);
            ids.push_str(event_id);
            rows.push(Row {
                user,
                ts_us: row.get(2)?,
                seq,
                given: row.get(5)?,
                id: (start, u32::try_from(event_id.len()).unwrap_or(0)),
                session: hash(text(row, 4)?),
            });
        }
    }
    rows.sort_unstable_by_key(|row| (row.user, row.ts_us, row.seq));
    let id_of = |row: &Row| &ids[row.id.0 as usize..(row.id.0 + row.id.1) as usize];
    let mut relabel: Vec<(i64, Label)> = Vec::new();
    let mut first_seen: Vec<(u32, i64)> = Vec::new();
    let mut previous: Option<(usize, Label)> = None;
    for (at, row) in rows.iter().enumerate() {
        let same_user = previous.is_some_and(|(before, _)| rows[before].user == row.user);
        if !same_user {
            first_seen.push((row.user, row.ts_us));
        }
        let label = match previous {
            _ if row.given => Label::Given(at),
            Some((before, label)) if same_user && row.ts_us - rows[before].ts_us < session_gap_us => label,
            _ => Label::Opener(at),
        };
        let named = match label {
            Label::Opener(opener) => hash(id_of(&rows[opener])),
            Label::Given(holder) => rows[holder].session,
        };
        if named != row.session {
            relabel.push((row.seq, label));
        }
        previous = Some((at, label));
    }
    relabel.sort_unstable_by_key(|(seq, _)| *seq);
    let mut update = conn.prepare_cached("UPDATE events SET session_id = ?2 WHERE seq = ?1")?;
    let mut stored_session = conn.prepare_cached("SELECT session_id FROM events WHERE seq = ?1")?;
    let mut given_names: HashMap<usize, String> = HashMap::new();
    for (seq, label) in &relabel {
        match *label {
            Label::Opener(opener) => update.execute(params![seq, id_of(&rows[opener])])?,
            Label::Given(holder) => {
                let name = match given_names.entry(holder) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(unknown) => {
                        unknown.insert(stored_session.query_row([rows[holder].seq], |row| row.get(0))?)
                    }
                };
                update.execute(params![seq, name.as_str()])?
            }
        };
    }
    let mut first =
        conn.prepare_cached("UPDATE users SET first_seen_us = ?2 WHERE user_key = ?1 AND first_seen_us > ?2")?;
    for (user, ts_us) in first_seen {
        first.execute(params![keys[user as usize], ts_us])?;
    }
    Ok(relabel.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: i64 = 100;

    /// Three users' events in a scrambled arrival order, every event labelled a session of its
    /// own (as arrival order split them); `c` was given the session `given-c` for its event 9.
    fn store() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, user_key TEXT, ts_us INTEGER, event_id TEXT, session_id TEXT);
             CREATE TABLE users (user_key TEXT PRIMARY KEY, first_seen_us INTEGER);
             CREATE TEMP TABLE bulk_given_sessions (seq INTEGER PRIMARY KEY);
             INSERT INTO temp.bulk_given_sessions VALUES (9);",
        )
        .unwrap();
        // (seq, user, time), in arrival order: a at 300, 0, 120, 50; b at 450, 10, 400; c at 500,
        // 20 (given), 90.
        let events = [
            (1, "a", 300),
            (2, "b", 450),
            (3, "a", 0),
            (4, "c", 500),
            (5, "b", 10),
            (6, "a", 120),
            (7, "b", 400),
            (8, "a", 50),
            (9, "c", 20),
            (10, "c", 90),
        ];
        for (seq, user, ts) in events {
            let session = if seq == 9 { "given-c".to_owned() } else { format!("e{seq}") };
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5)",
                params![seq, user, ts, format!("e{seq}"), session],
            )
            .unwrap();
        }
        for user in ["a", "b", "c"] {
            conn.execute("INSERT INTO users VALUES (?1, 1000)", [user]).unwrap();
        }
        conn
    }

    fn sessions(conn: &Connection) -> Vec<(i64, String)> {
        let mut stmt = conn.prepare("SELECT seq, session_id FROM events ORDER BY seq").unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn sessions_follow_time_order_in_one_pass_or_several() {
        let everyone: HashSet<String> = ["a", "b", "c"].into_iter().map(str::to_owned).collect();
        // By hand, gap 100: a: 0, 50 (e3's session), 120 (70 after 50: e3's), 300 (e1's own);
        // b: 10 (e5), 400, 450 (e7's); c: 20 given-c, 90 (70 after: given-c), 500 (e4's own).
        let expected: Vec<(i64, String)> = [
            (1, "e1"),
            (2, "e7"),
            (3, "e3"),
            (4, "e4"),
            (5, "e5"),
            (6, "e3"),
            (7, "e7"),
            (8, "e3"),
            (9, "given-c"),
            (10, "given-c"),
        ]
        .into_iter()
        .map(|(seq, label)| (seq, label.to_owned()))
        .collect();
        for rows_per_pass in [1_000_000, 4, 1] {
            let conn = store();
            in_passes(&conn, &everyone, GAP, rows_per_pass).unwrap();
            assert_eq!(sessions(&conn), expected, "{rows_per_pass} rows per pass");
            let first: Vec<(String, i64)> = conn
                .prepare("SELECT user_key, first_seen_us FROM users ORDER BY user_key")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(first, [("a".to_owned(), 0), ("b".to_owned(), 10), ("c".to_owned(), 20)]);
        }
        // Only the users named are touched.
        let conn = store();
        in_passes(&conn, &HashSet::from(["b".to_owned()]), GAP, 1_000_000).unwrap();
        let after = sessions(&conn);
        assert_eq!(after[0], (1, "e1".to_owned()));
        assert_eq!(after[2], (3, "e3".to_owned()));
        assert_eq!(after[7], (8, "e8".to_owned()), "a's events keep their labels");
        assert_eq!(after[1], (2, "e7".to_owned()));
    }
}
