//! Points coloured by group; a highlighted point drawn on top with its label.

use super::{Area, LABEL, axis_title, finite, legend, x_axis, y_axis};
use crate::scale::{self, Scale};
use crate::svg::{Canvas, clip, n};
use crate::{Scatter, Theme};

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, scatter: &Scatter) -> Result<(), String> {
    let points: Vec<_> = scatter.points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()).collect();
    let xs = finite(points.iter().map(|p| p.x))?;
    let ys = finite(points.iter().map(|p| p.y))?;
    let mut area = area;
    area.top += legend(canvas, theme, area, &scatter.groups) + 8.0;
    let area = Area { left: area.left + 48.0, bottom: area.bottom - 34.0, right: area.right - 8.0, ..area };
    let extent =
        |values: &[f64]| values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let ((x_low, x_high), (y_low, y_high)) = (extent(&xs), extent(&ys));
    let x_scale = Scale::nice(x_low, x_high, area.left, area.right);
    let y_scale = Scale::nice(y_low, y_high, area.bottom, area.top);
    x_axis(canvas, theme, area, &x_scale, &scale::number);
    y_axis(canvas, theme, area, &y_scale, &scale::number);
    axis_title(canvas, theme, area, &scatter.x_label, false);
    axis_title(canvas, theme, area, &scatter.y_label, true);
    let radius = if points.len() > 2000 {
        1.2
    } else if points.len() > 300 {
        2.0
    } else {
        3.5
    };
    let group_name = |group: usize| scatter.groups.get(group).cloned().unwrap_or_else(|| format!("group {group}"));
    for point in points.iter().filter(|p| p.highlight.is_none()) {
        canvas.mark(
            "circle",
            &[
                ("class", "mark point".into()),
                ("data-group", point.group.to_string()),
                ("cx", n(x_scale.at(point.x))),
                ("cy", n(y_scale.at(point.y))),
                ("r", n(radius)),
                ("fill", theme.colour(point.group).into()),
                ("fill-opacity", "0.75".into()),
            ],
            &format!("{} ({}, {})", group_name(point.group), scale::number(point.x), scale::number(point.y)),
        );
    }
    for point in points.iter().filter(|p| p.highlight.is_some()) {
        let label = point.highlight.as_deref().unwrap_or_default();
        let (x, y) = (x_scale.at(point.x), y_scale.at(point.y));
        canvas.mark(
            "circle",
            &[
                ("class", "mark point highlight".into()),
                ("data-group", point.group.to_string()),
                ("cx", n(x)),
                ("cy", n(y)),
                ("r", "7".into()),
                ("fill", theme.colour(point.group).into()),
                ("stroke", theme.text.into()),
                ("stroke-width", "2.5".into()),
            ],
            &format!("{label}: {}", group_name(point.group)),
        );
        let anchor = if x > area.left + area.width() * 0.7 { "end" } else { "start" };
        let dx = if anchor == "end" { -10.0 } else { 10.0 };
        canvas.text((x + dx, y - 8.0), &clip(label, 24), LABEL, theme.text, anchor, &[("font-weight", "bold".into())]);
    }
    Ok(())
}
