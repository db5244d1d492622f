//! Reading sequences from files: event logs in CSV and the MSNBC sequence format, plain or
//! gzip-compressed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use footprint_analytics::evaluation::Sequence;

use super::NextActionEval;
use crate::kernel::clock::{parse_rfc3339, to_us};

pub struct CsvColumns {
    pub case: String,
    pub activity: String,
    pub time: String,
    pub lifecycle: String,
    pub actor: String,
}

impl From<&NextActionEval> for CsvColumns {
    fn from(eval: &NextActionEval) -> Self {
        Self {
            case: eval.case_column.clone(),
            activity: eval.activity_column.clone(),
            time: eval.time_column.clone(),
            lifecycle: eval.lifecycle_column.clone(),
            actor: eval.actor_column.clone(),
        }
    }
}

pub(super) fn open(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if path.extension().is_some_and(|extension| extension == "gz") {
        Ok(Box::new(flate2::read::GzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// One sequence per case, events in time order (ties in file order).
pub fn load_csv(path: &Path, columns: &CsvColumns) -> anyhow::Result<Vec<Sequence>> {
    let mut reader = csv::Reader::from_reader(open(path)?);
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|header| header == name);
    let (Some(case), Some(activity), Some(time)) =
        (column(&columns.case), column(&columns.activity), column(&columns.time))
    else {
        bail!(
            "{} needs the columns {}, {} and {} (have: {})",
            path.display(),
            columns.case,
            columns.activity,
            columns.time,
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let lifecycle = column(&columns.lifecycle);
    let actor = column(&columns.actor);
    let mut order: Vec<String> = Vec::new();
    let mut cases: HashMap<String, Vec<(i64, usize, String, String)>> = HashMap::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: record {} is not valid CSV", path.display(), line + 2))?;
        let field = |index: usize| record.get(index).unwrap_or_default();
        let time_text = field(time);
        let time_us = parse_rfc3339(time_text).map(to_us).with_context(|| {
            format!("{}: record {}: {time_text:?} is not an RFC 3339 time", path.display(), line + 2)
        })?;
        let mut action = field(activity).to_owned();
        if let Some(stage) = lifecycle.map(field).filter(|stage| !stage.is_empty()) {
            action = format!("{action}-{stage}");
        }
        let case_id = field(case).to_owned();
        let events = cases.entry(case_id.clone()).or_insert_with(|| {
            order.push(case_id);
            Vec::new()
        });
        events.push((time_us, line, action, actor.map(field).unwrap_or_default().to_owned()));
    }
    let mut sequences = Vec::with_capacity(order.len());
    for case_id in order {
        let Some(mut events) = cases.remove(&case_id) else { continue };
        events.sort_by_key(|(time_us, line, _, _)| (*time_us, *line));
        let named = events.iter().any(|(_, _, _, actor)| !actor.is_empty());
        sequences.push(Sequence {
            start_us: events[0].0,
            times_us: Some(events.iter().map(|(time_us, _, _, _)| *time_us).collect()),
            actors: named.then(|| events.iter().map(|(_, _, _, actor)| actor.clone()).collect()),
            actions: events.into_iter().map(|(_, _, action, _)| action).collect(),
        });
    }
    if sequences.is_empty() {
        bail!("{} holds no events", path.display());
    }
    Ok(sequences)
}

/// Lines of space-separated numbers; other lines (headers) are skipped. The file order stands
/// for time.
pub fn load_msnbc(path: &Path) -> anyhow::Result<Vec<Sequence>> {
    let mut sequences = Vec::new();
    for line in BufReader::new(open(path)?).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() || !tokens.iter().all(|token| token.chars().all(|c| c.is_ascii_digit())) {
            continue;
        }
        let start_us = sequences.len() as i64;
        sequences.push(Sequence {
            start_us,
            actions: tokens.iter().map(|token| (*token).to_owned()).collect(),
            times_us: None,
            actors: None,
        });
    }
    if sequences.is_empty() {
        bail!("{} holds no sequence of numbers", path.display());
    }
    Ok(sequences)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn csv_cases_become_time_ordered_sequences_with_lifecycles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(
            &path,
            "case_id,activity,timestamp,lifecycle\n\
             c2,B,2020-01-01T00:00:05Z,\n\
             c1,W_x,2020-01-01T00:00:02Z,COMPLETE\n\
             c1,W_x,2020-01-01T00:00:01Z,START\n\
             c2,A,2020-01-01T00:00:04Z,\n",
        )
        .unwrap();
        let columns = CsvColumns {
            case: "case_id".into(),
            activity: "activity".into(),
            time: "timestamp".into(),
            lifecycle: "lifecycle".into(),
            actor: "resource".into(),
        };
        let sequences = load_csv(&path, &columns).unwrap();
        assert_eq!(sequences.len(), 2);
        assert_eq!(sequences[0].actions, vec!["A".to_owned(), "B".to_owned()]);
        assert_eq!(sequences[1].actions, vec!["W_x-START".to_owned(), "W_x-COMPLETE".to_owned()]);
        assert!(sequences[1].start_us < sequences[0].start_us);
    }

    #[test]
    fn gzip_msnbc_sequences_skip_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msnbc.seq.gz");
        let mut encoder = flate2::write::GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::default());
        encoder
            .write_all(b"% Different categories found in input file:\n\nfrontpage news tech\n\n1 1 \n2 3 2\n")
            .unwrap();
        encoder.finish().unwrap();
        let sequences = load_msnbc(&path).unwrap();
        assert_eq!(sequences.iter().map(|s| s.actions.join(" ")).collect::<Vec<_>>(), vec!["1 1", "2 3 2"]);
    }

    #[test]
    fn a_missing_column_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(&path, "id,activity,when\n1,a,2020-01-01T00:00:00Z\n").unwrap();
        let columns = CsvColumns {
            case: "case_id".into(),
            activity: "activity".into(),
            time: "timestamp".into(),
            lifecycle: String::new(),
            actor: String::new(),
        };
        let error = load_csv(&path, &columns).unwrap_err().to_string();
        assert!(error.contains("case_id") && error.contains("have: id, activity, when"), "{error}");
    }
}
