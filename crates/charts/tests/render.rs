//! Each drawing's marks against its data, the panel for too little data, escaping, both themes
//! and the PNG rasterised from the same SVG.

#![allow(clippy::unwrap_used)]

use footprint_charts::{
    Bars, Chart, Heatmap, LineSeries, Lines, Pie, Point, Radar, Scatter, Series, Size, Theme, XAxis,
};

fn marks(svg: &str, kind: &str) -> usize {
    svg.matches(&format!("class=\"mark {kind}")).count()
}

/// The `data-value`s of the marks, in order.
fn values(svg: &str) -> Vec<f64> {
    svg.split("data-value=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap()).collect()
}

fn samples() -> Vec<(&'static str, Chart)> {
    let days = ["monday", "tuesday", "wednesday"].map(String::from).to_vec();
    vec![
        (
            "bars",
            Chart::new(
                "Attendance by weekday",
                Bars::vertical(days.clone(), vec![Series::new("rate", vec![0.5, 0.75, 0.25])], "attendance").rates(),
            ),
        ),
        (
            "horizontal",
            Chart::new(
                "Next action",
                Bars::horizontal(
                    vec!["purchase".into(), "search".into()],
                    vec![Series::new("probability", vec![0.6, 0.4])],
                    "probability",
                )
                .rates(),
            ),
        ),
        (
            "lines",
            Chart::new(
                "Events per day",
                Lines::new(
                    vec![
                        LineSeries::new("view", vec![(0.0, 3.0), (86_400_000_000.0, 5.0), (172_800_000_000.0, 4.0)]),
                        LineSeries::new("click", vec![(0.0, 1.0), (86_400_000_000.0, 2.0)]),
                    ],
                    XAxis::Time,
                    "day (UTC)",
                    "events",
                ),
            ),
        ),
        (
            "scatter",
            Chart::new(
                "Segments",
                Scatter {
                    points: (0..30)
                        .map(|i| Point {
                            x: f64::from(i % 7),
                            y: f64::from(i % 5),
                            group: (i % 3) as usize,
                            highlight: (i == 4).then(|| "ana".to_owned()),
                        })
                        .collect(),
                    groups: vec!["explorers".into(), "buyers".into(), "idle".into()],
                    x_label: "component 1".into(),
                    y_label: "component 2".into(),
                },
            ),
        ),
        (
            "heatmap",
            Chart::new(
                "Activity by hour",
                Heatmap {
                    rows: days.clone(),
                    columns: (0..24).map(|h| format!("{h:02}")).collect(),
                    values: (0..3).map(|d| (0..24).map(|h| f64::from((d * 24 + h) % 5)).collect()).collect(),
                    value_label: "events".into(),
                    percent: false,
                },
            ),
        ),
        (
            "radar",
            Chart::new(
                "Traits",
                Radar {
                    axes: vec!["engagement".into(), "loyalty".into(), "variety".into(), "regularity".into()],
                    series: vec![
                        Series::new("ana", vec![0.8, 0.4, 0.6, 0.2]),
                        Series::new("segment", vec![0.5, 0.5, 0.5, 0.5]),
                    ],
                    min: 0.0,
                    max: 1.0,
                },
            ),
        ),
        (
            "pie",
            Chart::new(
                "Features used",
                Pie {
                    slices: vec![("search".into(), 6.0), ("cart".into(), 3.0), ("share".into(), 1.0)],
                    value_label: "uses".into(),
                },
            ),
        ),
    ]
}

#[test]
fn every_drawing_draws_one_mark_per_value() {
    let theme = Theme::light();
    let size = Size::new(640, 400);
    let drawn: Vec<String> = samples().iter().map(|(_, chart)| chart.to_svg(&theme, size)).collect();
    assert_eq!(marks(&drawn[0], "bar"), 3);
    assert_eq!(values(&drawn[0]), [0.5, 0.75, 0.25]);
    assert_eq!(marks(&drawn[1], "bar"), 2);
    assert_eq!(marks(&drawn[2], "point"), 5, "three views and two clicks");
    assert_eq!(values(&drawn[2]).iter().sum::<f64>(), 15.0);
    assert_eq!(marks(&drawn[3], "point"), 30, "every user, the highlighted one included");
    assert_eq!(marks(&drawn[3], "point highlight"), 1);
    assert!(drawn[3].contains(">ana<"));
    assert_eq!(marks(&drawn[4], "cell"), 72);
    let expected: f64 = (0..72).map(|i| f64::from(i % 5)).sum();
    assert_eq!(values(&drawn[4]).iter().sum::<f64>(), expected);
    assert_eq!(marks(&drawn[5], "vertex"), 8);
    assert_eq!(marks(&drawn[6], "slice"), 3);
    assert_eq!(values(&drawn[6]), [6.0, 3.0, 1.0], "largest first");
    for svg in &drawn {
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("class=\"empty\""));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}

#[test]
fn too_little_data_draws_the_panel_and_no_marks() {
    let theme = Theme::dark();
    let empty = [
        Chart::not_enough_data("Segments", "no segmentation has run yet"),
        Chart::new("Bars", Bars::vertical(vec!["a".into()], vec![Series::new("x", vec![f64::NAN])], "x")),
        Chart::new("Pie", Pie { slices: vec![("a".into(), 0.0)], value_label: "uses".into() }),
        Chart::new(
            "Radar",
            Radar {
                axes: vec!["a".into(), "b".into()],
                series: vec![Series::new("x", vec![1.0, 2.0])],
                min: 0.0,
                max: 2.0,
            },
        ),
        Chart::new("Lines", Lines::new(vec![], XAxis::Number, "x", "y")),
    ];
    for chart in &empty {
        let svg = chart.to_svg(&theme, Size::new(400, 300));
        assert!(svg.contains("class=\"empty\"") && svg.contains("Not enough data"), "{svg}");
        assert_eq!(svg.matches("class=\"mark").count(), 0, "{svg}");
    }
    assert!(empty[0].to_svg(&theme, Size::default()).contains("no segmentation has run yet"));
}

#[test]
fn text_is_escaped() {
    let chart = Chart::new(
        "<script>alert(1)</script>",
        Bars::vertical(vec!["a&b\"<".into()], vec![Series::new("x'", vec![1.0])], "n"),
    );
    let svg = chart.to_svg(&Theme::light(), Size::default());
    assert!(!svg.contains("<script>"));
    assert!(svg.contains("&lt;script&gt;") && svg.contains("a&amp;b&quot;&lt;"));
}

#[test]
fn themes_and_sizes_apply() {
    let (_, chart) = &samples()[0];
    let light = chart.to_svg(&Theme::light(), Size::new(400, 300));
    let dark = chart.to_svg(&Theme::dark(), Size::new(400, 300));
    assert!(light.contains("fill=\"#ffffff\"") && dark.contains("fill=\"#0d1117\""));
    assert!(light.contains("width=\"400\" height=\"300\""));
    let tiny = chart.to_svg(&Theme::light(), Size::new(10, 99_999));
    assert!(tiny.contains(&format!("width=\"{}\" height=\"{}\"", Size::MIN, Size::MAX)));
    assert_eq!(Theme::named("dark"), Some(Theme::dark()));
    assert_eq!(Theme::named("sepia"), None);
}

#[test]
fn png_comes_from_the_same_drawing() {
    let out = std::env::var("FOOTPRINT_CHARTS_OUT").ok();
    for (name, chart) in samples() {
        for theme in [Theme::light(), Theme::dark()] {
            let png = chart.to_png(&theme, Size::new(480, 320)).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
            // Width and height in the IHDR chunk.
            assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 480);
            assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 320);
            if let Some(dir) = &out {
                std::fs::write(format!("{dir}/{name}-{}.png", theme.name), &png).unwrap();
            }
        }
    }
}

#[test]
fn a_large_scatter_is_drawn_as_density_cells_that_count_every_point() {
    let points: Vec<Point> = (0..20_000)
        .map(|i| Point {
            x: f64::from(i % 200) + f64::from((i * 7919) % 13) / 4.0,
            y: f64::from(i / 200) + f64::from(i % 200) / 10.0,
            group: (i % 3) as usize,
            highlight: (i == 77).then(|| "ana".to_owned()),
        })
        .collect();
    let chart = Chart::new(
        "Segments",
        Scatter { points, groups: vec!["a".into(), "b".into(), "c".into()], x_label: "x".into(), y_label: "y".into() },
    );
    let svg = chart.to_svg(&Theme::light(), Size::new(800, 500));
    assert_eq!(marks(&svg, "point"), 1, "only the highlighted user is a point");
    assert!(marks(&svg, "cell") > 100);
    assert_eq!(values(&svg).iter().sum::<f64>(), 20_000.0, "the cells and the highlight count every user once");
    assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
    if let Ok(dir) = std::env::var("FOOTPRINT_CHARTS_OUT") {
        std::fs::write(format!("{dir}/density.png"), chart.to_png(&Theme::light(), Size::new(800, 500)).unwrap())
            .unwrap();
    }
}
