//! Time to draw each body at the sizes the product meets: 100 000 users on the segmentation's
//! plane, a weekday × hour heatmap, a 90-day timeline of 8 types, a 13-trait radar, bars and a
//! pie; SVG, and PNG from the same SVG.
//!
//! `cargo bench -p footprint-charts` (results in BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use footprint_charts::{
    Bars, Chart, Heatmap, LineSeries, Lines, Pie, Point, Radar, Scatter, Series, Size, Theme, XAxis,
};

/// A deterministic spread of values in [0, 1).
fn noise(i: usize) -> f64 {
    ((i as f64 * 0.618_033_988_75).fract() * 7919.0).fract()
}

fn charts() -> Vec<(&'static str, Chart)> {
    let scatter = Scatter {
        points: (0..100_000)
            .map(|i| Point { x: noise(i) * 6.0 - 3.0, y: noise(i + 7) * 4.0 - 2.0, group: i % 5, highlight: None })
            .collect(),
        groups: (0..5).map(|g| format!("segment {g}")).collect(),
        x_label: "component 1".into(),
        y_label: "component 2".into(),
    };
    let heatmap = Heatmap {
        rows: (0..7).map(|d| format!("day {d}")).collect(),
        columns: (0..24).map(|h| format!("{h:02}h")).collect(),
        values: (0..7).map(|d| (0..24).map(|h| (noise(d * 24 + h) * 50.0).round()).collect()).collect(),
        value_label: "events".into(),
        percent: false,
    };
    let timeline = Lines::new(
        (0..8)
            .map(|t| {
                LineSeries::new(
                    format!("type {t}"),
                    (0..90).map(|d| ((d as f64) * 86_400_000_000.0, (noise(t * 90 + d) * 30.0).round())).collect(),
                )
            })
            .collect(),
        XAxis::Time,
        "day (UTC)",
        "events",
    );
    let radar = Radar {
        axes: (0..13).map(|t| format!("trait {t}")).collect(),
        series: vec![
            Series::new("user", (0..13).map(|t| noise(t) * 6.0 - 3.0).collect()),
            Series::new("segment", (0..13).map(|t| noise(t + 13) * 6.0 - 3.0).collect()),
        ],
        min: -3.0,
        max: 3.0,
    };
    let bars = Bars::horizontal(
        (0..8).map(|t| format!("trait {t}")).collect(),
        vec![
            Series::new("user", (0..8).map(noise).collect()),
            Series::new("segment", (0..8).map(|t| noise(t + 8)).collect()),
        ],
        "z",
    );
    let pie = Pie {
        slices: (0..9).map(|s| (format!("feature {s}"), noise(s) * 100.0)).collect(),
        value_label: "uses".into(),
    };
    vec![
        ("scatter_100k_users", Chart::new("Users by segment", scatter)),
        ("heatmap_7x24", Chart::new("Activity", heatmap)),
        ("timeline_8x90", Chart::new("Activity per day", timeline)),
        ("radar_13_traits", Chart::new("Traits", radar)),
        ("bars_8x2", Chart::new("Engagement", bars)),
        ("pie_9", Chart::new("Feature usage", pie)),
    ]
}

fn render(c: &mut Criterion) {
    let theme = Theme::light();
    let size = Size::new(800, 500);
    let mut group = c.benchmark_group("charts");
    group.sample_size(20);
    for (name, chart) in charts() {
        group.bench_function(format!("{name}/svg"), |b| b.iter(|| chart.to_svg(&theme, size)));
        group.bench_function(format!("{name}/png"), |b| b.iter(|| chart.to_png(&theme, size).expect("png")));
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
