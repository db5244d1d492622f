//! A polygon per series over radial axes, with rings at quarters of the maximum.

use super::{Area, LABEL, finite, legend};
use crate::scale;
use crate::svg::{Canvas, clip, n};
use crate::{Radar, Theme};

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, radar: &Radar) -> Result<(), String> {
    finite(radar.series.iter().flat_map(|s| s.values.iter().copied()))?;
    if radar.axes.len() < 3 {
        return Err(format!("a radar needs three axes or more; there are {}", radar.axes.len()));
    }
    let names: Vec<String> = radar.series.iter().map(|s| s.name.clone()).collect();
    let mut area = area;
    area.top += legend(canvas, theme, area, &names) + 8.0;
    let (cx, cy) = (area.left + area.width() / 2.0, area.top + area.height() / 2.0);
    let radius = (area.width().min(area.height()) / 2.0 - 34.0).max(20.0);
    let min = if radar.min.is_finite() { radar.min } else { 0.0 };
    let max = if radar.max > min && radar.max.is_finite() { radar.max } else { min + 1.0 };
    let count = radar.axes.len();
    let towards = |axis: usize, fraction: f64| {
        let angle = -std::f64::consts::FRAC_PI_2 + axis as f64 * std::f64::consts::TAU / count as f64;
        (cx + radius * fraction * angle.cos(), cy + radius * fraction * angle.sin())
    };
    let at = |axis: usize, value: f64| towards(axis, ((value - min) / (max - min)).clamp(0.0, 1.0));
    canvas.open("g", &[("class", "axis radial".into())]);
    for ring in 1..=4 {
        let value = min + (max - min) * f64::from(ring) / 4.0;
        let ring_points: Vec<String> =
            (0..count).map(|a| at(a, value)).map(|(x, y)| format!("{},{}", n(x), n(y))).collect();
        canvas.element(
            "polygon",
            &[("points", ring_points.join(" ")), ("fill", "none".into()), ("stroke", theme.grid.into())],
        );
        let (x, y) = at(0, value);
        canvas.text((x + 4.0, y + 11.0), &scale::number(value), 9.0, theme.muted, "start", &[]);
    }
    for (axis, name) in radar.axes.iter().enumerate() {
        let (x, y) = at(axis, max);
        canvas.element(
            "line",
            &[("x1", n(cx)), ("y1", n(cy)), ("x2", n(x)), ("y2", n(y)), ("stroke", theme.grid.into())],
        );
        let (lx, ly) = towards(axis, 1.14);
        let anchor = if (lx - cx).abs() < 4.0 {
            "middle"
        } else if lx > cx {
            "start"
        } else {
            "end"
        };
        canvas.text((lx, ly + 4.0), &clip(name, 18), LABEL, theme.text, anchor, &[]);
    }
    canvas.close("g");
    for (index, series) in radar.series.iter().enumerate() {
        let colour = theme.colour(index);
        let vertices: Vec<(f64, f64)> =
            (0..count).map(|a| at(a, series.values.get(a).copied().filter(|v| v.is_finite()).unwrap_or(min))).collect();
        let polygon: Vec<String> = vertices.iter().map(|(x, y)| format!("{},{}", n(*x), n(*y))).collect();
        canvas.element(
            "polygon",
            &[
                ("class", "area".into()),
                ("points", polygon.join(" ")),
                ("fill", colour.into()),
                ("fill-opacity", "0.18".into()),
                ("stroke", colour.into()),
                ("stroke-width", "2".into()),
            ],
        );
        for (axis, (x, y)) in vertices.iter().enumerate() {
            let Some(value) = series.values.get(axis).copied().filter(|v| v.is_finite()) else { continue };
            canvas.mark(
                "circle",
                &[
                    ("class", "mark vertex".into()),
                    ("data-value", value.to_string()),
                    ("cx", n(*x)),
                    ("cy", n(*y)),
                    ("r", "3".into()),
                    ("fill", colour.into()),
                ],
                &format!("{} · {}: {}", series.name, radar.axes[axis], scale::number(value)),
            );
        }
    }
    Ok(())
}
