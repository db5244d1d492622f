//! The demo's people and their behaviour, pure and deterministic for a seed: each user has an
//! archetype (a few kinds of behaviour, so segmentation finds real segments), a peak hour,
//! weekday preferences and a tenure, and their sessions of events fill the last [`DAYS`] days.

use footprint_analytics::rng::SplitMix64;
use footprint_analytics::time::{DAY_US, HOUR_US, day_start, weekday};
use serde_json::{Value, json};

use crate::kernel::clock::rfc3339;

/// How far back the generated activity goes.
pub const DAYS: i64 = 60;

const CATEGORIES: [&str; 12] =
    ["books", "music", "films", "sports", "travel", "food", "tech", "fashion", "garden", "games", "kids", "health"];
const FEATURES: [&str; 5] = ["search_box", "filters", "recommendations", "wishlist", "newsletter"];

/// A kind of behaviour: when and how often the user comes, and what they do in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archetype {
    /// Evening visits, many searches and page views, rarely buys.
    Browser,
    /// Lunch-time visits on weekdays, short sessions that end in a purchase.
    Shopper,
    /// Mostly on weekends, mornings, reads and likes and shares content.
    WeekendReader,
    /// Every working day, office hours, long sessions using the product's features.
    PowerUser,
}

impl Archetype {
    fn draw(rng: &mut SplitMix64) -> Self {
        match rng.next_f64() {
            x if x < 0.35 => Archetype::Browser,
            x if x < 0.60 => Archetype::Shopper,
            x if x < 0.85 => Archetype::WeekendReader,
            _ => Archetype::PowerUser,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Archetype::Browser => "browser",
            Archetype::Shopper => "shopper",
            Archetype::WeekendReader => "weekend_reader",
            Archetype::PowerUser => "power_user",
        }
    }

    /// Peak hour (UTC), sessions on a day of weight 1, chance that a session ends after each
    /// action, and the weight of each weekday (Monday first).
    fn habits(self) -> (f64, f64, f64, [f64; 7]) {
        match self {
            Archetype::Browser => (20.5, 0.20, 0.20, [1.0, 1.0, 1.0, 1.0, 1.2, 0.8, 0.8]),
            Archetype::Shopper => (12.5, 0.14, 0.16, [1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.3]),
            Archetype::WeekendReader => (9.5, 0.45, 0.14, [0.1, 0.1, 0.1, 0.1, 0.2, 1.0, 1.0]),
            Archetype::PowerUser => (10.5, 0.38, 0.11, [1.0, 1.0, 1.0, 1.0, 0.9, 0.1, 0.05]),
        }
    }

    /// The next action after `action`, for this kind of user.
    fn next_action(self, action: &str, rng: &mut SplitMix64) -> &'static str {
        let buy = match self {
            Archetype::Browser => 0.05,
            Archetype::Shopper => 0.40,
            Archetype::WeekendReader => 0.08,
            Archetype::PowerUser => 0.15,
        };
        let social = if self == Archetype::WeekendReader { 0.30 } else { 0.05 };
        let x = rng.next_f64();
        match action {
            "page_view" | "login" => match self {
                Archetype::Browser if x < 0.5 => "search",
                Archetype::PowerUser if x < 0.4 => "click",
                _ if x < 0.25 => "search",
                _ => "view_item",
            },
            "view_item" if x < buy => "add_to_cart",
            "view_item" if x < buy + social => ["like", "like", "share"][rng.below(3)],
            "view_item" | "search" if x < 0.7 => "view_item",
            "view_item" if x < 0.85 => "click",
            "search" if x < 0.9 => "search",
            "add_to_cart" if x < 0.6 + buy => "purchase",
            "add_to_cart" | "click" if x < 0.6 => "view_item",
            _ => "page_view",
        }
    }
}

/// One generated user and their habits.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoUser {
    pub index: usize,
    pub user_id: String,
    pub archetype: Archetype,
    /// Whether they record consent: a few never do, and their events are not stored.
    pub consents: bool,
    peak_hour: f64,
    sessions_per_day: f64,
    favourite: usize,
    /// Days ago of their first and last possible visit.
    joined_days_ago: i64,
    left_days_ago: i64,
}

fn normal(rng: &mut SplitMix64) -> f64 {
    let (u, v) = (rng.next_f64().max(f64::MIN_POSITIVE), rng.next_f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The user's own generator: the same user gets the same draws whatever the population's size.
fn user_rng(seed: u64, index: usize, stream: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD1B5_4A32))
}

/// `n` users; user 0 always consents (the demo's `user` account is them).
pub fn users(n: usize, seed: u64) -> Vec<DemoUser> {
    (0..n)
        .map(|index| {
            let mut rng = user_rng(seed, index, 1);
            let archetype = Archetype::draw(&mut rng);
            let (peak, rate, _, _) = archetype.habits();
            let joined_days_ago = if rng.next_f64() < 0.8 { DAYS } else { 7 + rng.below((DAYS - 7) as usize) as i64 };
            let consents = index == 0 || rng.next_f64() >= 0.03;
            let peak_hour = (peak + normal(&mut rng) * 1.5).clamp(0.0, 23.0);
            let keenness = (normal(&mut rng) * 0.35).exp();
            // Users who come less than their kind's usual leave more often, at any time, after
            // fading out over their last two weeks; user 0 (the demo's `user` account) stays.
            let leave_chance = if keenness < 1.0 { 0.5 } else { 0.2 };
            let left_days_ago = if index > 0 && rng.next_f64() < leave_chance {
                1 + rng.below((joined_days_ago - 8).max(1) as usize) as i64
            } else {
                0
            };
            DemoUser {
                index,
                user_id: format!("demo-{index:05}"),
                archetype,
                consents,
                peak_hour,
                sessions_per_day: rate * keenness,
                favourite: rng.below(CATEGORIES.len()),
                joined_days_ago,
                left_days_ago: left_days_ago.min(joined_days_ago - 1),
            }
        })
        .collect()
}

fn properties(user: &DemoUser, action: &str, rng: &mut SplitMix64) -> Value {
    let category =
        if rng.next_f64() < 0.6 { CATEGORIES[user.favourite] } else { CATEGORIES[rng.below(CATEGORIES.len())] };
    match action {
        "view_item" | "add_to_cart" | "purchase" | "like" | "share" => {
            let item = format!("{category}-{:03}", rng.below(40));
            let mut properties = json!({"category": category, "item_id": item});
            if action == "purchase" {
                properties["amount"] = json!(5 + rng.below(95));
            }
            properties
        }
        "search" => json!({"category": category, "feature": "search_box", "query": format!("{category} ideas")}),
        "click" => json!({"category": category, "feature": FEATURES[rng.below(FEATURES.len())]}),
        _ => json!({"category": category, "page": format!("/{category}")}),
    }
}

/// The user's events over the last [`DAYS`] days before `now_us`, in time order, as clients send
/// them to `POST /api/track/batch` (with a `message_id`, so that a repeated demo stores them once).
pub fn events(user: &DemoUser, seed: u64, now_us: i64) -> Vec<Value> {
    let mut rng = user_rng(seed, user.index, 2);
    let (_, _, end_chance, weekdays) = user.archetype.habits();
    let today = day_start(now_us);
    let mut events = Vec::new();
    for days_ago in (user.left_days_ago..user.joined_days_ago).rev() {
        let day = today - days_ago * DAY_US;
        // A user who leaves fades out over their last 14 days.
        let fading =
            if user.left_days_ago > 0 { ((days_ago - user.left_days_ago) as f64 / 14.0).min(1.0) } else { 1.0 };
        let expected = user.sessions_per_day * weekdays[weekday(day)] * fading;
        let sessions = expected.floor() as usize + usize::from(rng.next_f64() < expected.fract());
        let mut not_before = day;
        for _ in 0..sessions {
            let hour = (user.peak_hour + normal(&mut rng) * 1.2).clamp(0.0, 23.5);
            let mut at = (day + (hour * HOUR_US as f64) as i64).max(not_before);
            let mut action = if user.archetype == Archetype::PowerUser { "login" } else { "page_view" };
            for _ in 0..25 {
                if at >= now_us {
                    break;
                }
                events.push(json!({
                    "user_id": user.user_id,
                    "type": action,
                    "timestamp": rfc3339(at),
                    "message_id": format!("demo-{seed}-{}-{}", user.index, events.len()),
                    "properties": properties(user, action, &mut rng),
                    "context": {"source": "footprint demo", "archetype": user.archetype.name()},
                }));
                at += (15 + rng.below(150) as i64) * 1_000_000;
                if rng.next_f64() < end_chance {
                    break;
                }
                action = user.archetype.next_action(action, &mut rng);
            }
            // The next session starts after a real gap.
            not_before = at + 45 * 60 * 1_000_000;
        }
    }
    events
}
