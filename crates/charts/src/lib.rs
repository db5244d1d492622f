//! Footprint's charts: typed data in, SVG out, and PNG rasterised from the same SVG (resvg, with
//! the embedded DejaVu Sans). No I/O and no clock: a chart is a pure function of its data, its
//! theme and its size.
//!
//! Six drawings cover every chart the product shows: bars (grouped, horizontal or vertical),
//! lines over a numeric or time axis, a scatter of coloured groups, a heatmap, a radar and a
//! pie. Each data mark carries `class="mark …"` and its value in `data-value`, so a test (or a
//! client) can count what was drawn; too little data draws an explicit panel
//! (`class="empty"`) saying why, never an empty or invented chart.
//!
//! ```
//! use footprint_charts::{Chart, Bars, Series, Size, Theme};
//! let chart = Chart::new("Events by type", Bars::vertical(
//!     vec!["view".into(), "click".into()],
//!     vec![Series::new("events", vec![12.0, 5.0])],
//!     "events",
//! ));
//! let svg = chart.to_svg(&Theme::light(), Size::new(400, 300));
//! assert_eq!(svg.matches("class=\"mark bar\"").count(), 2);
//! ```

mod draw;
mod png;
mod scale;
mod svg;
mod theme;

pub use png::{PngError, svg_to_png};
pub use theme::Theme;

/// Width and height in pixels (clamped to 200–4000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const MIN: u32 = 200;
    pub const MAX: u32 = 4000;

    pub fn new(width: u32, height: u32) -> Self {
        Self { width: width.clamp(Self::MIN, Self::MAX), height: height.clamp(Self::MIN, Self::MAX) }
    }
}

impl Default for Size {
    fn default() -> Self {
        Self::new(800, 500)
    }
}

/// A named list of values, one per category (bars, radar axes) or per point (lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub horizontal: bool,
    /// The value axis' label, with its unit.
    pub value_label: String,
    /// Fixes the value axis to 0–max (rates: 1).
    pub max: Option<f64>,
    /// Values shown as percentages.
    pub percent: bool,
}

impl Bars {
    pub fn vertical(categories: Vec<String>, series: Vec<Series>, value_label: impl Into<String>) -> Self {
        Self { categories, series, horizontal: false, value_label: value_label.into(), max: None, percent: false }
    }

    pub fn horizontal(categories: Vec<String>, series: Vec<Series>, value_label: impl Into<String>) -> Self {
        Self { horizontal: true, ..Self::vertical(categories, series, value_label) }
    }

    /// Values are rates from 0 to 1, shown as percentages.
    pub fn rates(mut self) -> Self {
        self.max = Some(1.0);
        self.percent = true;
        self
    }
}

/// What the x axis of a line chart counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    Number,
    /// Microseconds since the Unix epoch, labelled as UTC dates.
    Time,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineSeries {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl LineSeries {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { name: name.into(), points }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    pub series: Vec<LineSeries>,
    pub x_axis: XAxis,
    pub x_label: String,
    pub y_label: String,
    /// Fixed axis bounds (e.g. 0–1 for a ROC curve); else from the data.
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    /// A dashed reference line from (x0, y0) to (x1, y1): the diagonal of a ROC or calibration plot.
    pub reference: Option<((f64, f64), (f64, f64))>,
}

impl Lines {
    pub fn new(series: Vec<LineSeries>, x_axis: XAxis, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Self {
            series,
            x_axis,
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_range: None,
            y_range: None,
            reference: None,
        }
    }

    /// Both axes from 0 to 1 with the diagonal: a ROC curve or a calibration plot.
    pub fn unit_square_with_diagonal(mut self) -> Self {
        self.x_range = Some((0.0, 1.0));
        self.y_range = Some((0.0, 1.0));
        self.reference = Some(((0.0, 0.0), (1.0, 1.0)));
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// Index into [`Scatter::groups`].
    pub group: usize,
    /// Drawn larger, outlined and labelled (the user asked about).
    pub highlight: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    pub points: Vec<Point>,
    pub groups: Vec<String>,
    pub x_label: String,
    pub y_label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `values[row][column]`.
    pub values: Vec<Vec<f64>>,
    /// What a cell counts, with its unit.
    pub value_label: String,
    /// Cells shown as percentages.
    pub percent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Radar {
    pub axes: Vec<String>,
    /// One polygon per series, a value per axis.
    pub series: Vec<Series>,
    /// The centre's value (0 for scores; −3 for standard scores).
    pub min: f64,
    /// The outer ring's value (1 for scores from 0 to 1).
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pie {
    pub slices: Vec<(String, f64)>,
    pub value_label: String,
}

/// What a chart draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Bars(Bars),
    Lines(Lines),
    Scatter(Scatter),
    Heatmap(Heatmap),
    Radar(Radar),
    Pie(Pie),
    /// Too little data: the panel says why.
    NotEnoughData(String),
}

impl From<Bars> for Body {
    fn from(bars: Bars) -> Self {
        Body::Bars(bars)
    }
}
impl From<Lines> for Body {
    fn from(lines: Lines) -> Self {
        Body::Lines(lines)
    }
}
impl From<Scatter> for Body {
    fn from(scatter: Scatter) -> Self {
        Body::Scatter(scatter)
    }
}
impl From<Heatmap> for Body {
    fn from(heatmap: Heatmap) -> Self {
        Body::Heatmap(heatmap)
    }
}
impl From<Radar> for Body {
    fn from(radar: Radar) -> Self {
        Body::Radar(radar)
    }
}
impl From<Pie> for Body {
    fn from(pie: Pie) -> Self {
        Body::Pie(pie)
    }
}

/// A titled chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub subtitle: Option<String>,
    pub body: Body,
}

impl Chart {
    pub fn new(title: impl Into<String>, body: impl Into<Body>) -> Self {
        Self { title: title.into(), subtitle: None, body: body.into() }
    }

    /// The explicit panel for too little data.
    pub fn not_enough_data(title: impl Into<String>, why: impl Into<String>) -> Self {
        Self { title: title.into(), subtitle: None, body: Body::NotEnoughData(why.into()) }
    }

    pub fn with_subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.subtitle = Some(subtitle.into());
        self
    }

    /// Whether the chart draws data (not the panel).
    pub fn has_data(&self) -> bool {
        !matches!(self.body, Body::NotEnoughData(_))
    }

    /// The chart as a standalone SVG document. A body without anything to draw (no finite
    /// value) becomes the panel.
    pub fn to_svg(&self, theme: &Theme, size: Size) -> String {
        draw::document(self, theme, size)
    }

    /// The same drawing as PNG.
    pub fn to_png(&self, theme: &Theme, size: Size) -> Result<Vec<u8>, PngError> {
        svg_to_png(&self.to_svg(theme, size))
    }
}
