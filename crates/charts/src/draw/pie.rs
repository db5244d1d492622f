//! Slices of a whole, largest first, with a legend of their shares.

use super::{Area, LABEL};
use crate::scale;
use crate::svg::{Canvas, clip, n};
use crate::{Pie, Theme};

pub fn draw(canvas: &mut Canvas, theme: &Theme, area: Area, pie: &Pie) -> Result<(), String> {
    let mut slices: Vec<(&str, f64)> =
        pie.slices.iter().filter(|(_, v)| v.is_finite() && *v > 0.0).map(|(name, v)| (name.as_str(), *v)).collect();
    let total: f64 = slices.iter().map(|(_, v)| v).sum();
    if slices.is_empty() || total <= 0.0 {
        return Err("there is nothing to divide yet".into());
    }
    slices.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let legend_width = (area.width() * 0.45).min(240.0);
    let radius = ((area.width() - legend_width) / 2.0 - 12.0).min(area.height() / 2.0 - 8.0).max(20.0);
    let (cx, cy) = (area.left + radius + 8.0, area.top + area.height() / 2.0);
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (index, (name, value)) in slices.iter().enumerate() {
        let share = value / total;
        let colour = theme.colour(index);
        let tooltip = format!("{name}: {} {} ({})", scale::number(*value), pie.value_label, scale::percent(share));
        let attributes = |shape: Vec<(&'static str, String)>| {
            let mut all = vec![("class", "mark slice".to_owned()), ("data-value", value.to_string())];
            all.extend(shape);
            all.push(("fill", colour.to_owned()));
            all.push(("stroke", theme.background.to_owned()));
            all
        };
        if share >= 0.999_999 {
            canvas.mark("circle", &attributes(vec![("cx", n(cx)), ("cy", n(cy)), ("r", n(radius))]), &tooltip);
        } else {
            let end = angle + share * std::f64::consts::TAU;
            let (x0, y0) = (cx + radius * angle.cos(), cy + radius * angle.sin());
            let (x1, y1) = (cx + radius * end.cos(), cy + radius * end.sin());
            let large = if share > 0.5 { 1 } else { 0 };
            let path = format!(
                "M{} {} L{} {} A{} {} 0 {large} 1 {} {} Z",
                n(cx),
                n(cy),
                n(x0),
                n(y0),
                n(radius),
                n(radius),
                n(x1),
                n(y1)
            );
            canvas.mark("path", &attributes(vec![("d", path)]), &tooltip);
            angle = end;
        }
        let y = area.top + 10.0 + index as f64 * 18.0;
        if y < area.bottom {
            let x = area.right - legend_width;
            canvas.element(
                "rect",
                &[
                    ("x", n(x)),
                    ("y", n(y - 9.0)),
                    ("width", "10".into()),
                    ("height", "10".into()),
                    ("fill", colour.into()),
                ],
            );
            let label = format!("{} — {}", clip(name, 22), scale::percent(share));
            canvas.text((x + 16.0, y), &label, LABEL, theme.text, "start", &[]);
        }
    }
    Ok(())
}
