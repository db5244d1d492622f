//! A generated attendance history with known effects, for tests, evaluations and benchmarks.

use super::{DAY_US, EventInfo, RegistrationInfo};
use crate::rng::SplitMix64;

/// Monday 2024-01-01 00:00 UTC.
pub const MONDAY: i64 = 1_704_067_200_000_000;

/// 40 weeks of classes on Monday, Tuesday and Thursday at 18h; Tuesday +15 points, rain
/// −10 points, and a group of users (every fifth) at a much lower rate.
pub fn weekly_classes(weeks: i64, seed: u64) -> (Vec<EventInfo>, Vec<RegistrationInfo>) {
    weekly_classes_of(weeks, 60, seed)
}

/// The same with `members` users (each registers to a class with probability ½).
pub fn weekly_classes_of(weeks: i64, members: usize, seed: u64) -> (Vec<EventInfo>, Vec<RegistrationInfo>) {
    let mut rng = SplitMix64::new(seed);
    let mut events = Vec::new();
    let mut registrations = Vec::new();
    for week in 0..weeks {
        for day in [0i64, 1, 3] {
            let start = MONDAY + (week * 7 + day) * DAY_US + 18 * 3_600_000_000;
            let rain = rng.next_f64() < 0.3;
            let id = format!("e{week}-{day}");
            events.push(EventInfo {
                event_id: id.clone(),
                event_type: "class".to_owned(),
                start_us: start,
                duration_minutes: 60,
                price: Some(10.0),
                bad_weather: Some(rain),
                temperature_c: None,
                condition: Some(if rain { "rainy" } else { "sunny" }.to_owned()),
                location: None,
                instructor: None,
                utc_offset_minutes: 0,
            });
            for user in 0..members {
                if rng.next_f64() < 0.5 {
                    continue;
                }
                let user_id = format!("u{user}");
                let p = true_probability(events.last().expect("just pushed"), &user_id);
                registrations.push(RegistrationInfo {
                    event_id: id.clone(),
                    user_id,
                    registered_at_us: start - 3 * DAY_US,
                    attended: Some(rng.next_f64() < p),
                    attributes: Default::default(),
                });
            }
        }
    }
    (events, registrations)
}

/// The probability the generator gave a registration: 15 % for every fifth user and 70 % for the
/// others, +15 points on Tuesdays, −10 points in the rain. A model can do no better than these.
pub fn true_probability(event: &EventInfo, user_id: &str) -> f64 {
    let user: usize = user_id.trim_start_matches('u').parse().unwrap_or(1);
    let mut p: f64 = if user.is_multiple_of(5) { 0.15 } else { 0.7 };
    if super::weekday(event.start_us) == 1 {
        p += 0.15;
    }
    if event.bad_weather == Some(true) {
        p -= 0.10;
    }
    p
}
