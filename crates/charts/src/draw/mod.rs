//! The document around every chart (background, title, legend, the panel for too little data)
//! and the axes the drawings share.

mod bars;
mod heatmap;
mod lines;
mod pie;
mod radar;
mod scatter;

use crate::scale::Scale;
use crate::svg::{Canvas, clip, n};
use crate::{Body, Chart, Size, Theme};

pub const LABEL: f64 = 11.0;
const TITLE: f64 = 16.0;

/// The plotting area, in pixels.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl Area {
    pub fn width(&self) -> f64 {
        self.right - self.left
    }
    pub fn height(&self) -> f64 {
        self.bottom - self.top
    }
}

pub fn document(chart: &Chart, theme: &Theme, size: Size) -> String {
    let (width, height) = (f64::from(size.width), f64::from(size.height));
    let mut canvas = Canvas::new(size.width, size.height, theme.background, &chart.title);
    canvas.text(
        (16.0, 26.0),
        &clip(&chart.title, (width / 9.0) as usize),
        TITLE,
        theme.text,
        "start",
        &[("class", "title".into()), ("font-weight", "bold".into())],
    );
    let mut top = 40.0;
    if let Some(subtitle) = &chart.subtitle {
        canvas.text(
            (16.0, 44.0),
            &clip(subtitle, (width / 6.5) as usize),
            LABEL,
            theme.muted,
            "start",
            &[("class", "subtitle".into())],
        );
        top = 56.0;
    }
    let area = Area { left: 16.0, top, right: width - 16.0, bottom: height - 12.0 };
    let drawn = match &chart.body {
        Body::NotEnoughData(why) => Err(why.clone()),
        Body::Bars(bars) => bars::draw(&mut canvas, theme, area, bars),
        Body::Lines(lines) => lines::draw(&mut canvas, theme, area, lines),
        Body::Scatter(scatter) => scatter::draw(&mut canvas, theme, area, scatter),
        Body::Heatmap(heatmap) => heatmap::draw(&mut canvas, theme, area, heatmap),
        Body::Radar(radar) => radar::draw(&mut canvas, theme, area, radar),
        Body::Pie(pie) => pie::draw(&mut canvas, theme, area, pie),
    };
    if let Err(why) = drawn {
        empty_panel(&mut canvas, theme, area, &why);
    }
    canvas.finish()
}

/// The explicit panel: a dashed frame and the reason, nothing else.
fn empty_panel(canvas: &mut Canvas, theme: &Theme, area: Area, why: &str) {
    canvas.open("g", &[("class", "empty".into())]);
    canvas.element(
        "rect",
        &[
            ("x", n(area.left)),
            ("y", n(area.top)),
            ("width", n(area.width())),
            ("height", n(area.height())),
            ("fill", "none".into()),
            ("stroke", theme.grid.into()),
            ("stroke-dasharray", "6 4".into()),
            ("rx", "6".into()),
        ],
    );
    let (x, y) = (area.left + area.width() / 2.0, area.top + area.height() / 2.0);
    canvas.text((x, y - 4.0), "Not enough data", 14.0, theme.text, "middle", &[("font-weight", "bold".into())]);
    let per_line = (area.width() / 6.5).max(20.0) as usize;
    for (index, line) in wrap(why, per_line).iter().take(3).enumerate() {
        canvas.text((x, y + 16.0 + index as f64 * 14.0), line, LABEL, theme.muted, "middle", &[]);
    }
    canvas.close("g");
}

/// Words into lines of at most `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A row of legend entries under the title (wrapping); the height it took.
pub fn legend(canvas: &mut Canvas, theme: &Theme, area: Area, names: &[String]) -> f64 {
    if names.len() < 2 {
        return 0.0;
    }
    canvas.open("g", &[("class", "legend".into())]);
    let (mut x, mut y) = (area.left, area.top + 4.0);
    for (index, name) in names.iter().enumerate() {
        let label = clip(name, 24);
        let width = 18.0 + label.chars().count() as f64 * 6.6 + 14.0;
        if x + width > area.right && x > area.left {
            x = area.left;
            y += 16.0;
        }
        canvas.element(
            "rect",
            &[
                ("x", n(x)),
                ("y", n(y)),
                ("width", "10".into()),
                ("height", "10".into()),
                ("rx", "2".into()),
                ("fill", theme.colour(index).into()),
            ],
        );
        canvas.text((x + 14.0, y + 9.0), &label, LABEL, theme.text, "start", &[]);
        x += width;
    }
    canvas.close("g");
    y + 16.0 - area.top
}

/// Horizontal grid lines with their labels on the left (`format` for the numbers).
pub fn y_axis(canvas: &mut Canvas, theme: &Theme, area: Area, scale: &Scale, format: &dyn Fn(f64) -> String) {
    canvas.open("g", &[("class", "axis y".into())]);
    for tick in scale.ticks(((area.height() / 40.0) as usize).clamp(2, 8)) {
        let y = scale.at(tick);
        canvas.element(
            "line",
            &[
                ("x1", n(area.left)),
                ("x2", n(area.right)),
                ("y1", n(y)),
                ("y2", n(y)),
                ("stroke", theme.grid.into()),
                ("stroke-width", "1".into()),
            ],
        );
        canvas.text((area.left - 6.0, y + 4.0), &format(tick), LABEL, theme.muted, "end", &[]);
    }
    canvas.close("g");
}

/// Vertical grid lines with their labels below.
pub fn x_axis(canvas: &mut Canvas, theme: &Theme, area: Area, scale: &Scale, format: &dyn Fn(f64) -> String) {
    canvas.open("g", &[("class", "axis x".into())]);
    let label_width = format(scale.high).chars().count().max(4) as f64 * 7.0 + 12.0;
    for tick in scale.ticks(((area.width() / label_width) as usize).clamp(2, 10)) {
        let x = scale.at(tick);
        canvas.element(
            "line",
            &[
                ("x1", n(x)),
                ("x2", n(x)),
                ("y1", n(area.top)),
                ("y2", n(area.bottom)),
                ("stroke", theme.grid.into()),
                ("stroke-width", "1".into()),
            ],
        );
        canvas.text((x, area.bottom + 14.0), &format(tick), LABEL, theme.muted, "middle", &[]);
    }
    canvas.close("g");
}

/// An axis' title: below the area (x) or rotated on the left (y).
pub fn axis_title(canvas: &mut Canvas, theme: &Theme, area: Area, text: &str, vertical: bool) {
    if text.is_empty() {
        return;
    }
    if vertical {
        let (x, y) = (area.left - 44.0, area.top + area.height() / 2.0);
        canvas.text(
            (x, y),
            &clip(text, 40),
            LABEL,
            theme.muted,
            "middle",
            &[("class", "axis-title".into()), ("transform", format!("rotate(-90 {} {})", n(x), n(y)))],
        );
    } else {
        canvas.text(
            (area.left + area.width() / 2.0, area.bottom + 30.0),
            &clip(text, 60),
            LABEL,
            theme.muted,
            "middle",
            &[("class", "axis-title".into())],
        );
    }
}

/// The finite values, or why there is nothing to draw.
pub fn finite(values: impl Iterator<Item = f64>) -> Result<Vec<f64>, String> {
    let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    if values.is_empty() { Err("there is nothing to draw yet".to_owned()) } else { Ok(values) }
}
