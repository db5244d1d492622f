//! Grouped bars, vertical or horizontal, a bar per category and series.

use super::{Area, LABEL, axis_title, finite, legend, x_axis, y_axis};
use crate::scale::{self, Scale};
use crate::svg::{Canvas, clip, n};
use crate::{Bars, Theme};

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, bars: &Bars) -> Result<(), String> {
    let values = finite(bars.series.iter().flat_map(|s| s.values.iter().copied()))?;
    if bars.categories.is_empty() {
        return Err("there are no categories to draw".into());
    }
    let names: Vec<String> = bars.series.iter().map(|s| s.name.clone()).collect();
    let mut area = area;
    area.top += legend(canvas, theme, area, &names) + 8.0;
    let low = values.iter().copied().fold(0.0, f64::min);
    let high = bars.max.unwrap_or_else(|| values.iter().copied().fold(0.0, f64::max));
    let format = |v: f64| if bars.percent { scale::percent(v) } else { scale::number(v) };
    let groups = bars.categories.len() as f64;
    let per_group = bars.series.len().max(1) as f64;
    if bars.horizontal {
        let longest = bars.categories.iter().map(|c| clip(c, 28).chars().count()).max().unwrap_or(1) as f64;
        let area = Area {
            left: area.left + (longest * 6.6 + 10.0).min(area.width() * 0.4),
            bottom: area.bottom - 34.0,
            right: area.right - 8.0,
            ..area
        };
        let values_scale = if bars.max.is_some() {
            Scale::fixed(low, high, area.left, area.right)
        } else {
            Scale::nice(low, high, area.left, area.right)
        };
        x_axis(canvas, theme, area, &values_scale, &format);
        axis_title(canvas, theme, area, &bars.value_label, false);
        let band = area.height() / groups;
        let thickness = (band * 0.8 / per_group).min(28.0);
        for (row, category) in bars.categories.iter().enumerate() {
            let y0 = area.top + row as f64 * band + (band - thickness * per_group) / 2.0;
            canvas.text(
                (area.left - 6.0, y0 + thickness * per_group / 2.0 + 4.0),
                &clip(category, 28),
                LABEL,
                theme.text,
                "end",
                &[],
            );
            for (index, series) in bars.series.iter().enumerate() {
                let Some(value) = series.values.get(row).copied().filter(|v| v.is_finite()) else { continue };
                let (a, b) = (values_scale.at(0f64.max(values_scale.low)), values_scale.at(value));
                canvas.mark(
                    "rect",
                    &[
                        ("class", "mark bar".into()),
                        ("data-value", value.to_string()),
                        ("x", n(a.min(b))),
                        ("y", n(y0 + index as f64 * thickness)),
                        ("width", n((b - a).abs().max(0.5))),
                        ("height", n(thickness * 0.92)),
                        ("fill", theme.colour(index).into()),
                        ("rx", "2".into()),
                    ],
                    &format!("{category} · {}: {}", series.name, format(value)),
                );
            }
        }
        return Ok(());
    }
    let rotate =
        bars.categories.iter().map(|c| c.chars().count()).max().unwrap_or(0) as f64 * 6.6 > area.width() / groups;
    let area = Area {
        left: area.left + 48.0,
        bottom: area.bottom - if rotate { 64.0 } else { 34.0 },
        right: area.right - 4.0,
        ..area
    };
    let values_scale = if bars.max.is_some() {
        Scale::fixed(low, high, area.bottom, area.top)
    } else {
        Scale::nice(low, high, area.bottom, area.top)
    };
    y_axis(canvas, theme, area, &values_scale, &format);
    axis_title(canvas, theme, area, &bars.value_label, true);
    let band = area.width() / groups;
    let thickness = (band * 0.8 / per_group).min(48.0);
    for (column, category) in bars.categories.iter().enumerate() {
        let x0 = area.left + column as f64 * band + (band - thickness * per_group) / 2.0;
        let centre = area.left + column as f64 * band + band / 2.0;
        let label = clip(category, 18);
        if rotate {
            let y = area.bottom + 12.0;
            canvas.text(
                (centre, y),
                &label,
                LABEL,
                theme.text,
                "end",
                &[("transform", format!("rotate(-40 {} {})", n(centre), n(y)))],
            );
        } else {
            canvas.text((centre, area.bottom + 14.0), &label, LABEL, theme.text, "middle", &[]);
        }
        for (index, series) in bars.series.iter().enumerate() {
            let Some(value) = series.values.get(column).copied().filter(|v| v.is_finite()) else { continue };
            let (a, b) = (values_scale.at(0f64.max(values_scale.low)), values_scale.at(value));
            canvas.mark(
                "rect",
                &[
                    ("class", "mark bar".into()),
                    ("data-value", value.to_string()),
                    ("x", n(x0 + index as f64 * thickness)),
                    ("y", n(a.min(b))),
                    ("width", n(thickness * 0.92)),
                    ("height", n((b - a).abs().max(0.5))),
                    ("fill", theme.colour(index).into()),
                    ("rx", "2".into()),
                ],
                &format!("{category} · {}: {}", series.name, format(value)),
            );
        }
    }
    Ok(())
}
