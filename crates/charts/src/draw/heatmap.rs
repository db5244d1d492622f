//! A grid of cells shaded by value, with each cell's value written when it fits.

use super::{Area, LABEL, finite};
use crate::scale;
use crate::svg::{Canvas, clip, n};
use crate::{Heatmap, Theme};

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, heatmap: &Heatmap) -> Result<(), String> {
    let values = finite(heatmap.values.iter().flatten().copied())?;
    if heatmap.rows.is_empty() || heatmap.columns.is_empty() {
        return Err("there are no rows or columns to draw".into());
    }
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let low = values.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
    let longest = heatmap.rows.iter().map(|r| clip(r, 20).chars().count()).max().unwrap_or(1) as f64;
    let rotate = heatmap.columns.iter().map(|c| c.chars().count()).max().unwrap_or(0) as f64 * 6.6
        > (area.width() - longest * 6.6) / heatmap.columns.len() as f64;
    let area = Area {
        left: area.left + (longest * 6.6 + 10.0).min(area.width() * 0.35),
        bottom: area.bottom - if rotate { 98.0 } else { 36.0 },
        ..area
    };
    let (cell_w, cell_h) = (area.width() / heatmap.columns.len() as f64, area.height() / heatmap.rows.len() as f64);
    let format = |v: f64| if heatmap.percent { scale::percent(v) } else { scale::number(v) };
    for (row, name) in heatmap.rows.iter().enumerate() {
        let y = area.top + row as f64 * cell_h;
        canvas.text((area.left - 6.0, y + cell_h / 2.0 + 4.0), &clip(name, 20), LABEL, theme.text, "end", &[]);
        for (column, column_name) in heatmap.columns.iter().enumerate() {
            let Some(value) = heatmap.values.get(row).and_then(|r| r.get(column)).copied().filter(|v| v.is_finite())
            else {
                continue;
            };
            let t = if high > low { (value - low) / (high - low) } else { 0.0 };
            let x = area.left + column as f64 * cell_w;
            canvas.mark(
                "rect",
                &[
                    ("class", "mark cell".into()),
                    ("data-value", value.to_string()),
                    ("x", n(x + 0.5)),
                    ("y", n(y + 0.5)),
                    ("width", n((cell_w - 1.0).max(0.5))),
                    ("height", n((cell_h - 1.0).max(0.5))),
                    ("fill", theme.shade(t)),
                ],
                &format!("{name} · {column_name}: {} {}", format(value), heatmap.value_label),
            );
            let text = if heatmap.percent || value == value.trunc() {
                format(value)
            } else {
                format!("{value:.1}").replace("-0.0", "0.0")
            };
            if value != 0.0 && cell_w >= text.chars().count() as f64 * 6.2 + 4.0 && cell_h >= 14.0 {
                canvas.text(
                    (x + cell_w / 2.0, y + cell_h / 2.0 + 4.0),
                    &text,
                    10.0,
                    theme.text_on_shade(t),
                    "middle",
                    &[],
                );
            }
        }
    }
    let every = ((heatmap.columns.len() as f64 * 26.0 / area.width()).ceil() as usize).max(1);
    for (column, name) in heatmap.columns.iter().enumerate().step_by(every) {
        let x = area.left + column as f64 * cell_w + cell_w / 2.0;
        let y = area.bottom + 14.0;
        let label = clip(name, 16);
        if rotate {
            canvas.text(
                (x, y),
                &label,
                LABEL,
                theme.text,
                "end",
                &[("transform", format!("rotate(-40 {} {})", n(x), n(y)))],
            );
        } else {
            canvas.text((x, y), &label, LABEL, theme.text, "middle", &[]);
        }
    }
    let more = if theme.name == "dark" { "brighter" } else { "darker" };
    let caption = format!("{}: {} to {}, {more} is more", heatmap.value_label, format(low), format(high));
    canvas.text(
        (area.left, area.bottom + if rotate { 94.0 } else { 32.0 }),
        &caption,
        LABEL,
        theme.muted,
        "start",
        &[("class", "axis-title".into())],
    );
    Ok(())
}
