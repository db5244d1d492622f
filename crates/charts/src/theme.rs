//! Light and dark themes: background, text, grid and a palette for series (Okabe–Ito, which
//! stays distinguishable with the common colour-vision deficiencies).

/// Colours of a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: &'static str,
    pub background: &'static str,
    pub text: &'static str,
    pub muted: &'static str,
    pub grid: &'static str,
    /// Series colours, in order.
    pub palette: [&'static str; 8],
    /// The heatmap's low and high ends.
    pub scale: (&'static str, &'static str),
}

impl Theme {
    pub fn light() -> Self {
        Self {
            name: "light",
            background: "#ffffff",
            text: "#1f2328",
            muted: "#57606a",
            grid: "#d8dee4",
            palette: ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7a6500", "#000000"],
            scale: ("#eef4fb", "#08306b"),
        }
    }

    pub fn dark() -> Self {
        Self {
            name: "dark",
            background: "#0d1117",
            text: "#e6edf3",
            muted: "#9198a1",
            grid: "#30363d",
            palette: ["#56b4e9", "#e69f00", "#009e73", "#cc79a7", "#f0e442", "#d55e00", "#0072b2", "#ffffff"],
            scale: ("#161b22", "#79c0ff"),
        }
    }

    /// `light` or `dark`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "light" => Some(Self::light()),
            "dark" => Some(Self::dark()),
            _ => None,
        }
    }

    pub fn colour(&self, index: usize) -> &'static str {
        self.palette[index % self.palette.len()]
    }

    /// The heatmap colour of `t` in 0–1, between the scale's ends.
    pub fn shade(&self, t: f64) -> String {
        let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
        let (low, high) = (rgb(self.scale.0), rgb(self.scale.1));
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        format!("#{:02x}{:02x}{:02x}", mix(low.0, high.0), mix(low.1, high.1), mix(low.2, high.2))
    }

    /// Text colour readable on `shade(t)`.
    pub fn text_on_shade(&self, t: f64) -> &'static str {
        let dark_cell = if self.name == "dark" { t < 0.55 } else { t > 0.45 };
        if dark_cell { "#ffffff" } else { "#1f2328" }
    }
}

fn rgb(hex: &str) -> (u8, u8, u8) {
    let channel = |at: usize| u8::from_str_radix(hex.get(at..at + 2).unwrap_or("00"), 16).unwrap_or(0);
    (channel(1), channel(3), channel(5))
}
