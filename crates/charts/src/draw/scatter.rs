//! Points coloured by group; a highlighted point drawn on top with its label. Above
//! [`DENSITY_ABOVE`] points the plane is drawn as density cells instead (each a mark with its
//! count, coloured by its most frequent group), which reads better and draws in a fraction of
//! the time.

use super::{Area, LABEL, axis_title, finite, legend, x_axis, y_axis};
use crate::scale::{self, Scale};
use crate::svg::{Canvas, clip, n};
use crate::{Point, Scatter, Theme};

/// More points than this are drawn as density cells.
pub const DENSITY_ABOVE: usize = 5_000;
/// Density cells are squares of about this many pixels.
const CELL_PX: f64 = 8.0;

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, scatter: &Scatter) -> Result<(), String> {
    let points: Vec<&Point> = scatter.points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()).collect();
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
    let group_name = |group: usize| scatter.groups.get(group).cloned().unwrap_or_else(|| format!("group {group}"));
    let plain: Vec<&Point> = points.iter().copied().filter(|p| p.highlight.is_none()).collect();
    if points.len() > DENSITY_ABOVE {
        density(canvas, theme, area, (&x_scale, &y_scale), &plain, &group_name);
    } else {
        dots(canvas, theme, (&x_scale, &y_scale), &plain, &group_name);
    }
    for point in points.iter().filter(|p| p.highlight.is_some()) {
        let label = point.highlight.as_deref().unwrap_or_default();
        let (x, y) = (x_scale.at(point.x), y_scale.at(point.y));
        canvas.mark(
            "circle",
            &[
                ("class", "mark point highlight".into()),
                ("data-group", point.group.to_string()),
                ("data-value", "1".into()),
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

/// One circle per point.
fn dots(
    canvas: &mut Canvas,
    theme: &Theme,
    (x_scale, y_scale): (&Scale, &Scale),
    points: &[&Point],
    name: &dyn Fn(usize) -> String,
) {
    let radius = if points.len() > 2000 {
        1.2
    } else if points.len() > 300 {
        2.0
    } else {
        3.5
    };
    for point in points {
        canvas.mark(
            "circle",
            &[
                ("class", "mark point".into()),
                ("data-group", point.group.to_string()),
                ("data-value", "1".into()),
                ("cx", n(x_scale.at(point.x))),
                ("cy", n(y_scale.at(point.y))),
                ("r", n(radius)),
                ("fill", theme.colour(point.group).into()),
                ("fill-opacity", "0.75".into()),
            ],
            &format!("{} ({}, {})", name(point.group), scale::number(point.x), scale::number(point.y)),
        );
    }
}

/// Square cells of about [`CELL_PX`] pixels: each holds its points' count (`data-value`), in
/// the colour of its most frequent group, more opaque the fuller it is.
fn density(
    canvas: &mut Canvas,
    theme: &Theme,
    area: Area,
    (x_scale, y_scale): (&Scale, &Scale),
    points: &[&Point],
    name: &dyn Fn(usize) -> String,
) {
    let columns = (area.width() / CELL_PX).floor().max(1.0) as usize;
    let rows = (area.height() / CELL_PX).floor().max(1.0) as usize;
    let (cell_w, cell_h) = (area.width() / columns as f64, area.height() / rows as f64);
    let mut cells: std::collections::BTreeMap<(usize, usize), std::collections::BTreeMap<usize, u64>> =
        std::collections::BTreeMap::new();
    for point in points {
        let column = (((x_scale.at(point.x) - area.left) / cell_w) as usize).min(columns - 1);
        let row = (((y_scale.at(point.y) - area.top) / cell_h) as usize).min(rows - 1);
        *cells.entry((column, row)).or_default().entry(point.group).or_default() += 1;
    }
    let fullest = cells.values().map(|groups| groups.values().sum::<u64>()).max().unwrap_or(1) as f64;
    for ((column, row), groups) in &cells {
        let count: u64 = groups.values().sum();
        let (&group, &most) = groups.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).unwrap_or((&0, &0));
        let opacity = 0.25 + 0.75 * (count as f64 / fullest).sqrt();
        canvas.mark(
            "rect",
            &[
                ("class", "mark cell".into()),
                ("data-value", count.to_string()),
                ("x", n(area.left + *column as f64 * cell_w)),
                ("y", n(area.top + *row as f64 * cell_h)),
                ("width", n(cell_w)),
                ("height", n(cell_h)),
                ("fill", theme.colour(group).into()),
                ("fill-opacity", format!("{opacity:.2}")),
            ],
            &format!("{count} users, {} of them in {}", most, name(group)),
        );
    }
}
