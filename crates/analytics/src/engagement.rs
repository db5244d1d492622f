//! Seed 004's engagement segments: users described by how they attend (their attendance rate,
//! how often they register, how early, how often at the last minute), grouped by k-means with k
//! chosen by silhouette (the fewest segments within [`SILHOUETTE_SLACK`] of the best), and each group named by whether its attendance is significantly above
//! or below everyone's.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::attendance::{EventInfo, RegistrationInfo};
use crate::cluster::adjusted_rand_index;
use crate::cluster::{KMeansOptions, Points, Standardizer, choose_k, kmeans, labels_by_size};

use crate::time::days;
/// Fewest known outcomes for a user to be placed in a segment: below it a rate says little.
pub const MIN_REGISTRATIONS: u64 = 3;
/// Fewest such users for a segmentation.
pub const MIN_USERS: usize = 10;
/// A smaller k is kept when its silhouette is this close to the best one: a split of noise in
/// one feature (say, registration counts) can edge out the real structure by a few hundredths.
pub const SILHOUETTE_SLACK: f64 = 0.05;
/// The feature names, in the order of [`UserEngagement::features`].
pub const FEATURES: [&str; 4] = ["attendance_rate", "registrations", "lead_time_days", "last_minute_share"];

/// How one user attends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserEngagement {
    pub user_id: String,
    /// Registrations with a known outcome.
    pub registrations: u64,
    pub attended: u64,
    /// Mean days between registering and the event's start.
    pub mean_lead_days: f64,
    /// Share of registrations made less than a day before the start.
    pub last_minute_share: f64,
}

impl UserEngagement {
    pub fn rate(&self) -> f64 {
        self.attended as f64 / self.registrations.max(1) as f64
    }

    /// Rate, log registrations, log lead time, last-minute share.
    fn features(&self) -> [f64; 4] {
        [self.rate(), (self.registrations as f64).ln_1p(), self.mean_lead_days.ln_1p(), self.last_minute_share]
    }
}

/// Every user's engagement over the registrations with a known outcome, by user id.
pub fn user_engagement(events: &[EventInfo], registrations: &[RegistrationInfo]) -> Vec<UserEngagement> {
    // user → (registrations, attended, Σ lead days, last-minute count)
    let mut sums: BTreeMap<&str, (u64, u64, f64, u64)> = BTreeMap::new();
    for (event, registration) in crate::attendance::known(events, registrations) {
        let lead = days((event.start_us - registration.registered_at_us).max(0));
        let entry = sums.entry(registration.user_id.as_str()).or_default();
        entry.0 += 1;
        entry.1 += u64::from(registration.attended == Some(true));
        entry.2 += lead;
        entry.3 += u64::from(lead < 1.0);
    }
    sums.into_iter()
        .map(|(user_id, (registrations, attended, lead, last_minute))| UserEngagement {
            user_id: user_id.to_owned(),
            registrations,
            attended,
            mean_lead_days: lead / registrations as f64,
            last_minute_share: last_minute as f64 / registrations as f64,
        })
        .collect()
}

/// One engagement segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngagementSegment {
    pub id: usize,
    pub name: String,
    pub users: usize,
    /// Share of the segmented users.
    pub share: f64,
    pub registrations: u64,
    pub attended: u64,
    pub attendance_rate: f64,
    /// How far the segment's rate lies from everyone's, in binomial standard deviations at
    /// everyone's rate. Descriptive only: the segments were formed on the rate, so no test of
    /// the difference would be valid on the same data (see [`stability`] instead).
    pub z_score: f64,
    pub mean_registrations: f64,
    pub mean_lead_days: f64,
    pub last_minute_share: f64,
    /// What sets the segment apart: features whose centroid is ≥ 0.5 sd from everyone's.
    pub characteristics: Vec<String>,
    /// Up to 5 members, most registrations first.
    pub example_users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngagementSegmentation {
    pub k: usize,
    pub silhouette: f64,
    /// The silhouette of every k tried.
    pub scores: Vec<(usize, f64)>,
    pub users_segmented: usize,
    /// Users left out for having fewer than [`MIN_REGISTRATIONS`] known outcomes.
    pub users_left_out: usize,
    pub overall_rate: f64,
    pub segments: Vec<EngagementSegment>,
    /// Each segmented user's segment id.
    pub assignments: Vec<(String, usize)>,
}

/// The segments, or `None` with fewer than [`MIN_USERS`] users with enough registrations.
pub fn segment(users: &[UserEngagement], k_max: usize, seed: u64) -> Option<EngagementSegmentation> {
    let kept: Vec<&UserEngagement> = users.iter().filter(|u| u.registrations >= MIN_REGISTRATIONS).collect();
    if kept.len() < MIN_USERS {
        return None;
    }
    let points = Points::new(kept.iter().flat_map(|u| u.features()).collect(), FEATURES.len());
    let scaler = Standardizer::fit(&points);
    let scaled = scaler.transform(&points);
    let options = KMeansOptions { seed, ..KMeansOptions::default() };
    let mut chosen = choose_k(&scaled, 2, k_max.max(2), &options)?;
    // Parsimony: the fewest segments whose silhouette is within SILHOUETTE_SLACK of the best.
    if let Some(&(k, score)) = chosen.scores.iter().find(|(_, score)| *score >= chosen.silhouette - SILHOUETTE_SLACK)
        && k < chosen.k
    {
        chosen.model = kmeans(&scaled, k, &options);
        chosen.k = k;
        chosen.silhouette = score;
    }
    let (labels, sizes) = labels_by_size(&chosen.model.labels, chosen.k);
    let total_registrations: u64 = kept.iter().map(|u| u.registrations).sum();
    let overall_rate = kept.iter().map(|u| u.attended).sum::<u64>() as f64 / total_registrations as f64;
    let mut segments = Vec::with_capacity(chosen.k);
    for (id, &size) in sizes.iter().enumerate() {
        let members: Vec<&UserEngagement> =
            kept.iter().zip(&labels).filter(|(_, label)| **label == id).map(|(u, _)| *u).collect();
        let registrations: u64 = members.iter().map(|u| u.registrations).sum();
        let attended: u64 = members.iter().map(|u| u.attended).sum();
        let rate = attended as f64 / registrations.max(1) as f64;
        let spread = (overall_rate * (1.0 - overall_rate) / registrations.max(1) as f64).sqrt();
        let z_score = if spread > 0.0 { (rate - overall_rate) / spread } else { 0.0 };
        let count = members.len() as f64;
        let mean = |f: &dyn Fn(&UserEngagement) -> f64| members.iter().map(|u| f(u)).sum::<f64>() / count;
        let centroid: Vec<f64> = (0..FEATURES.len()).map(|d| mean(&|u: &UserEngagement| u.features()[d])).collect();
        let mut by_volume = members.clone();
        by_volume.sort_by(|a, b| b.registrations.cmp(&a.registrations).then_with(|| a.user_id.cmp(&b.user_id)));
        segments.push(EngagementSegment {
            id,
            name: String::new(),
            users: size,
            share: size as f64 / kept.len() as f64,
            registrations,
            attended,
            attendance_rate: rate,
            z_score,
            mean_registrations: registrations as f64 / count,
            mean_lead_days: mean(&|u: &UserEngagement| u.mean_lead_days),
            last_minute_share: mean(&|u: &UserEngagement| u.last_minute_share),
            characteristics: characteristics(&centroid, &scaler),
            example_users: by_volume.iter().take(5).map(|u| u.user_id.clone()).collect(),
        });
    }
    name_segments(&mut segments);
    Some(EngagementSegmentation {
        k: chosen.k,
        silhouette: chosen.silhouette,
        scores: chosen.scores,
        users_segmented: kept.len(),
        users_left_out: users.len() - kept.len(),
        overall_rate,
        segments,
        assignments: kept.iter().zip(&labels).map(|(u, label)| (u.user_id.clone(), *label)).collect(),
    })
}

/// Features whose centroid lies at least half a standard deviation from everyone's mean.
fn characteristics(centroid: &[f64], scaler: &Standardizer) -> Vec<String> {
    let phrases = [
        ("attends more often than most", "attends less often than most"),
        ("registers often", "registers rarely"),
        ("registers early", "registers late"),
        ("often registers at the last minute", "rarely registers at the last minute"),
    ];
    let mut found: Vec<(f64, &str)> = Vec::new();
    for (d, (above, below)) in phrases.iter().enumerate() {
        if scaler.stds[d] <= 1e-12 {
            continue;
        }
        let z = (centroid[d] - scaler.means[d]) / scaler.stds[d];
        if z.abs() >= 0.5 {
            found.push((z.abs(), if z > 0.0 { above } else { below }));
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    found.into_iter().map(|(_, phrase)| phrase.to_owned()).collect()
}

/// Named by how far the segment's rate lies from everyone's (two binomial standard deviations or
/// more above or below); segments sharing a name are told apart by how often they register.
fn name_segments(segments: &mut [EngagementSegment]) {
    for segment in segments.iter_mut() {
        segment.name = if segment.z_score >= 2.0 {
            "High engagers"
        } else if segment.z_score <= -2.0 {
            "Occasional attendees"
        } else {
            "Selective participants"
        }
        .to_owned();
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for segment in segments.iter() {
        *counts.entry(segment.name.clone()).or_default() += 1;
    }
    let mean_volume: f64 = segments.iter().map(|s| s.mean_registrations).sum::<f64>() / segments.len().max(1) as f64;
    for segment in segments.iter_mut() {
        if counts[&segment.name] > 1 {
            let volume = if segment.mean_registrations >= mean_volume { "frequent" } else { "infrequent" };
            segment.name = format!("{} ({volume}, {:.0} %)", segment.name, segment.attendance_rate * 100.0);
        }
    }
}

/// Whether the segments are a lasting trait rather than noise: each user's known registrations
/// are dealt alternately (in time order) into two halves, users are segmented into `k` groups on
/// each half separately, and the two partitions of the users present in both are compared by
/// the adjusted Rand index (1: the same segments; about 0: unrelated). `None` with too few users.
pub fn stability(events: &[EventInfo], registrations: &[RegistrationInfo], k: usize, seed: u64) -> Option<f64> {
    let known = crate::attendance::known(events, registrations);
    let mut turn: HashMap<&str, usize> = HashMap::new();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (_, registration) in known {
        let count = turn.entry(registration.user_id.as_str()).or_default();
        if count.is_multiple_of(2) {
            first.push(registration.clone())
        } else {
            second.push(registration.clone())
        }
        *count += 1;
    }
    let options = KMeansOptions { seed, ..KMeansOptions::default() };
    let partition = |half: &[RegistrationInfo]| -> HashMap<String, usize> {
        let users: Vec<UserEngagement> =
            user_engagement(events, half).into_iter().filter(|u| u.registrations >= MIN_REGISTRATIONS).collect();
        if users.len() < MIN_USERS {
            return HashMap::new();
        }
        let points = Points::new(users.iter().flat_map(|u| u.features()).collect(), FEATURES.len());
        let scaled = Standardizer::fit(&points).transform(&points);
        let model = kmeans(&scaled, k.clamp(1, users.len()), &options);
        users.into_iter().map(|u| u.user_id).zip(model.labels).collect()
    };
    let (a, b) = (partition(&first), partition(&second));
    let common: Vec<&String> = a.keys().filter(|user| b.contains_key(*user)).collect();
    if common.len() < MIN_USERS {
        return None;
    }
    let left: Vec<usize> = common.iter().map(|u| a[*u]).collect();
    let right: Vec<usize> = common.iter().map(|u| b[*u]).collect();
    adjusted_rand_index(&left, &right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attendance::synthetic;

    #[test]
    fn engagement_sums_known_outcomes_lead_times_and_last_minute_registrations() {
        let event = |id: &str, start_us: i64| EventInfo::plain(id.to_owned(), "class".to_owned(), start_us, 60);
        let day = crate::time::DAY_US;
        let events = [event("a", 10 * day), event("b", 20 * day)];
        let registration = |event: &str, user: &str, at: i64, attended: Option<bool>| RegistrationInfo {
            event_id: event.to_owned(),
            user_id: user.to_owned(),
            registered_at_us: at,
            attended,
            attributes: Default::default(),
        };
        let registrations = [
            registration("a", "ana", 7 * day, Some(true)),
            registration("b", "ana", 20 * day - day / 2, Some(false)),
            registration("b", "bob", 10 * day, None),
            registration("zzz", "bob", 0, Some(true)),
        ];
        let users = user_engagement(&events, &registrations);
        assert_eq!(users.len(), 1, "bob has no known outcome of a known event");
        let ana = &users[0];
        assert_eq!((ana.registrations, ana.attended), (2, 1));
        assert!((ana.mean_lead_days - 1.75).abs() < 1e-12, "(3 + 0.5) / 2");
        assert!((ana.last_minute_share - 0.5).abs() < 1e-12);
    }

    #[test]
    fn segments_separate_the_planted_low_attendance_group() {
        let (events, registrations) = synthetic::weekly_classes(40, 7);
        let users = user_engagement(&events, &registrations);
        let segmentation = segment(&users, 5, 42).expect("60 users");
        let occasional: Vec<&EngagementSegment> =
            segmentation.segments.iter().filter(|s| s.name.starts_with("Occasional")).collect();
        assert_eq!(occasional.len(), 1, "{:?} {:#?}", segmentation.scores, segmentation.segments);
        let low = occasional[0];
        assert_eq!(low.users, 12, "every fifth of 60 users");
        assert!(low.attendance_rate < 0.25, "{}", low.attendance_rate);
        assert!(low.characteristics.contains(&"attends less often than most".to_owned()));
        let members: Vec<&str> = segmentation
            .assignments
            .iter()
            .filter(|(_, label)| *label == low.id)
            .map(|(user, _)| user.as_str())
            .collect();
        assert!(members.iter().all(|u| u[1..].parse::<u32>().unwrap() % 5 == 0), "{members:?}");
        assert!(low.z_score < -2.0, "{}", low.z_score);
        // The planted group is a lasting trait: found again on alternate registrations.
        let stable = stability(&events, &registrations, segmentation.k, 42).unwrap();
        assert!(stable > 0.8, "{stable}");
        assert!(segment(&users[..5], 5, 42).is_none(), "too few users");
    }

    #[test]
    fn segments_of_alike_users_are_not_stable() {
        // Everyone attends at the same rate: whatever the clustering finds is noise.
        let (events, mut registrations) = synthetic::weekly_classes(40, 3);
        let mut rng = crate::rng::SplitMix64::new(5);
        for registration in &mut registrations {
            registration.attended = Some(rng.next_f64() < 0.6);
        }
        let stable = stability(&events, &registrations, 2, 42).unwrap();
        assert!(stable.abs() < 0.2, "{stable}");
    }
}
