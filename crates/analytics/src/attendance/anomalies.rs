//! Attendance far from expectation: events whose attendance lies far from what their
//! registrants' probabilities predict, and users missing many in a row against their own rate.

use super::*;

/// How sensitive anomaly detection is: the |z| a deviation must reach.
pub fn sensitivity_threshold(sensitivity: &str) -> Option<f64> {
    match sensitivity {
        "low" => Some(3.0),
        "medium" => Some(2.5),
        "high" => Some(2.0),
        _ => None,
    }
}

/// An event whose attendance is far from what its registrants' probabilities predict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventAnomaly {
    pub event_id: String,
    pub start_us: i64,
    /// `attendance_drop` or `attendance_spike` (against expectation), or `outlier_event`
    /// (against the other events' rates).
    pub kind: &'static str,
    pub registrations: usize,
    pub expected: f64,
    pub actual: u64,
    /// (actual − Σp) / sqrt(Σp(1 − p)), or the robust z of the rate for outliers.
    pub z_score: f64,
    /// `high` (|z| ≥ threshold + 1.5), `medium` (≥ threshold + 0.75) or `low`.
    pub severity: &'static str,
}

/// A user missing several events in a row despite a high attendance rate before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserAnomaly {
    pub user_id: String,
    pub missed_in_a_row: u64,
    pub rate_before: f64,
    /// The chance of such a run at the user's rate: (1 − rate)^run.
    pub probability: f64,
    pub severity: &'static str,
}

fn severity(z: f64, threshold: f64) -> &'static str {
    match z.abs() {
        a if a >= threshold + 1.5 => "high",
        a if a >= threshold + 0.75 => "medium",
        _ => "low",
    }
}

/// Anomalies among the events starting in `[from_us, to_us)`; each registrant's probability
/// comes from `probability(event, registration, history)` with the history strictly before.
pub fn anomalies(
    events: &[EventInfo],
    registrations: &[RegistrationInfo],
    from_us: i64,
    to_us: i64,
    threshold: f64,
    probability: &dyn Fn(&EventInfo, &RegistrationInfo, &History) -> f64,
) -> (Vec<EventAnomaly>, Vec<UserAnomaly>) {
    let mut by_event: HashMap<&str, Vec<&RegistrationInfo>> = HashMap::new();
    for registration in registrations.iter().filter(|r| r.attended.is_some()) {
        by_event.entry(registration.event_id.as_str()).or_default().push(registration);
    }
    let mut ordered: Vec<&EventInfo> = events.iter().filter(|e| by_event.contains_key(e.event_id.as_str())).collect();
    ordered.sort_by(|a, b| (a.start_us, &a.event_id).cmp(&(b.start_us, &b.event_id)));
    let mut histories: HashMap<&str, History> = HashMap::new();
    let mut runs: HashMap<&str, (u64, f64)> = HashMap::new();
    let mut user_anomalies: BTreeMap<String, UserAnomaly> = BTreeMap::new();
    let mut event_anomalies = Vec::new();
    let mut rates: Vec<(usize, f64)> = Vec::new();
    let mut in_window: Vec<(&EventInfo, f64, u64, usize)> = Vec::new();
    for event in ordered {
        let group = &by_event[event.event_id.as_str()];
        let in_range = event.start_us >= from_us && event.start_us < to_us;
        if in_range {
            let probabilities: Vec<f64> = group
                .iter()
                .map(|r| probability(event, r, &histories.get(r.user_id.as_str()).copied().unwrap_or_default()))
                .collect();
            let actual = group.iter().filter(|r| r.attended == Some(true)).count() as u64;
            let expected: f64 = probabilities.iter().sum();
            if let Some(z) = crate::stats::binomial_z(actual as f64, &probabilities)
                && z.abs() >= threshold
            {
                event_anomalies.push(EventAnomaly {
                    event_id: event.event_id.clone(),
                    start_us: event.start_us,
                    kind: if z < 0.0 { "attendance_drop" } else { "attendance_spike" },
                    registrations: group.len(),
                    expected,
                    actual,
                    z_score: z,
                    severity: severity(z, threshold),
                });
            }
            rates.push((in_window.len(), actual as f64 / group.len() as f64));
            in_window.push((event, expected, actual, group.len()));
        }
        for registration in group {
            let history = histories.entry(registration.user_id.as_str()).or_default();
            let rate_before = history.smoothed_rate(0.5);
            let attended = registration.attended == Some(true);
            let run = runs.entry(registration.user_id.as_str()).or_insert((0, rate_before));
            if attended {
                *run = (0, rate_before);
            } else {
                if run.0 == 0 {
                    run.1 = rate_before;
                }
                run.0 += 1;
                let probability = (1.0 - run.1).powi(run.0 as i32);
                // A run of misses is one-sided evidence: its chance is compared with one tail.
                let one_tail = crate::stats::two_sided_normal_p(threshold) / 2.0;
                if in_range && run.1 >= 0.7 && history.registrations >= 5 && probability < one_tail {
                    // A chance too small to represent is as extreme as it gets.
                    let z = crate::stats::normal_quantile(probability).map_or(f64::INFINITY, f64::abs);
                    user_anomalies.insert(
                        registration.user_id.clone(),
                        UserAnomaly {
                            user_id: registration.user_id.clone(),
                            missed_in_a_row: run.0,
                            rate_before: run.1,
                            probability,
                            severity: severity(z, threshold),
                        },
                    );
                }
            }
            history.record(attended);
        }
    }
    // Events whose rate stands out from the others' (robust z), not already flagged.
    let values: Vec<f64> = rates.iter().map(|(_, rate)| *rate).collect();
    for ((index, _), z) in rates.iter().zip(crate::stats::robust_z(&values)) {
        let Some(z) = z else { continue };
        let (event, expected, actual, registrations) = in_window[*index];
        if z.abs() >= threshold + 0.5 && !event_anomalies.iter().any(|a| a.event_id == event.event_id) {
            event_anomalies.push(EventAnomaly {
                event_id: event.event_id.clone(),
                start_us: event.start_us,
                kind: "outlier_event",
                registrations,
                expected,
                actual,
                z_score: z,
                severity: severity(z, threshold + 0.5),
            });
        }
    }
    event_anomalies
        .sort_by(|a, b| b.z_score.abs().total_cmp(&a.z_score.abs()).then_with(|| a.event_id.cmp(&b.event_id)));
    (event_anomalies, user_anomalies.into_values().collect())
}
