//! Lines over a numeric or time axis, each point a mark.

use super::{Area, axis_title, finite, legend, x_axis, y_axis};
use crate::scale::{self, Scale};
use crate::svg::{Canvas, n};
use crate::{Lines, Theme, XAxis};

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, lines: &Lines) -> Result<(), String> {
    let points: Vec<(f64, f64)> = lines
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let xs = finite(points.iter().map(|p| p.0))?;
    let ys = finite(points.iter().map(|p| p.1))?;
    let names: Vec<String> = lines.series.iter().map(|s| s.name.clone()).collect();
    let mut area = area;
    area.top += legend(canvas, theme, area, &names) + 8.0;
    let area = Area { left: area.left + 48.0, bottom: area.bottom - 34.0, right: area.right - 8.0, ..area };
    let (x_low, x_high) = lines.x_range.unwrap_or_else(|| extent(&xs));
    let (y_low, y_high) = lines.y_range.unwrap_or_else(|| {
        let (low, high) = extent(&ys);
        (low.min(0.0), high)
    });
    let x_scale = match lines.x_axis {
        XAxis::Time => Scale::fixed(x_low, x_high, area.left, area.right),
        XAxis::Number if lines.x_range.is_some() => Scale::fixed(x_low, x_high, area.left, area.right),
        XAxis::Number => Scale::nice(x_low, x_high, area.left, area.right),
    };
    let y_scale = if lines.y_range.is_some() {
        Scale::fixed(y_low, y_high, area.bottom, area.top)
    } else {
        Scale::nice(y_low, y_high, area.bottom, area.top)
    };
    y_axis(canvas, theme, area, &y_scale, &scale::number);
    match lines.x_axis {
        XAxis::Time => time_axis(canvas, theme, area, &x_scale),
        XAxis::Number => x_axis(canvas, theme, area, &x_scale, &scale::number),
    }
    axis_title(canvas, theme, area, &lines.x_label, false);
    axis_title(canvas, theme, area, &lines.y_label, true);
    if let Some(((x0, y0), (x1, y1))) = lines.reference {
        canvas.element(
            "line",
            &[
                ("class", "reference".into()),
                ("x1", n(x_scale.at(x0))),
                ("y1", n(y_scale.at(y0))),
                ("x2", n(x_scale.at(x1))),
                ("y2", n(y_scale.at(y1))),
                ("stroke", theme.muted.into()),
                ("stroke-dasharray", "4 4".into()),
            ],
        );
    }
    let label = |x: f64| match lines.x_axis {
        XAxis::Time => scale::date(x),
        XAxis::Number => scale::number(x),
    };
    for (index, series) in lines.series.iter().enumerate() {
        let colour = theme.colour(index);
        let path: Vec<String> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{},{}", n(x_scale.at(*x)), n(y_scale.at(*y))))
            .collect();
        if path.len() > 1 {
            canvas.element(
                "polyline",
                &[
                    ("class", "line".into()),
                    ("points", path.join(" ")),
                    ("fill", "none".into()),
                    ("stroke", colour.into()),
                    ("stroke-width", "2".into()),
                    ("stroke-linejoin", "round".into()),
                ],
            );
        }
        let radius = if series.points.len() > 60 { 1.5 } else { 3.0 };
        for (x, y) in series.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            canvas.mark(
                "circle",
                &[
                    ("class", "mark point".into()),
                    ("data-value", y.to_string()),
                    ("cx", n(x_scale.at(*x))),
                    ("cy", n(y_scale.at(*y))),
                    ("r", n(radius)),
                    ("fill", colour.into()),
                ],
                &format!("{} · {}: {}", series.name, label(*x), scale::number(*y)),
            );
        }
    }
    Ok(())
}

fn extent(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(*v), high.max(*v)))
}

const DAY_US: f64 = 86_400_000_000.0;

/// Date ticks on whole days, as many as fit.
fn time_axis(canvas: &mut Canvas, theme: &Theme, area: Area, scale: &Scale) {
    let days = ((scale.high - scale.low) / DAY_US).max(1.0);
    let fit = (area.width() / 78.0).max(2.0);
    let step_days = [1.0, 2.0, 7.0, 14.0, 30.0, 61.0, 91.0, 182.0, 365.0]
        .into_iter()
        .find(|step| days / step <= fit)
        .unwrap_or(365.0 * (days / 365.0 / fit).ceil());
    canvas.open("g", &[("class", "axis x".into())]);
    let mut tick = (scale.low / DAY_US).ceil() * DAY_US;
    while tick <= scale.high {
        let x = scale.at(tick);
        canvas.element(
            "line",
            &[("x1", n(x)), ("x2", n(x)), ("y1", n(area.top)), ("y2", n(area.bottom)), ("stroke", theme.grid.into())],
        );
        canvas.text((x, area.bottom + 14.0), &scale::date(tick)[5..], super::LABEL, theme.muted, "middle", &[]);
        tick += step_days * DAY_US;
    }
    canvas.close("g");
}
