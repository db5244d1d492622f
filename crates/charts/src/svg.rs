//! A small SVG writer: elements with escaped attributes and text, numbers with two decimals.

use std::fmt::Write;

/// `&`, `<`, `>`, `"` and `'` escaped, and control characters dropped (XML cannot hold them).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most two decimals.
pub fn n(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded == rounded.trunc() { format!("{}", rounded as i64) } else { format!("{rounded}") }
}

/// A label at most `max` characters long (an ellipsis when cut).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The SVG being written.
pub struct Canvas {
    pub out: String,
}

impl Canvas {
    pub fn new(width: u32, height: u32, background: &str, title: &str) -> Self {
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" font-family="DejaVu Sans, Verdana, sans-serif"><title>{}</title><rect class="background" x="0" y="0" width="{width}" height="{height}" fill="{background}"/>"#,
            escape(title)
        );
        Self { out }
    }

    /// An element with its attributes (values escaped) and no content.
    pub fn element(&mut self, name: &str, attributes: &[(&str, String)]) {
        self.open(name, attributes);
        self.out.truncate(self.out.len() - 1);
        self.out.push_str("/>");
    }

    pub fn open(&mut self, name: &str, attributes: &[(&str, String)]) {
        let _ = write!(self.out, "<{name}");
        for (key, value) in attributes {
            let _ = write!(self.out, r#" {key}="{}""#, escape(value));
        }
        self.out.push('>');
    }

    pub fn close(&mut self, name: &str) {
        let _ = write!(self.out, "</{name}>");
    }

    /// Text at (x, y); `anchor` is start, middle or end.
    pub fn text(
        &mut self,
        (x, y): (f64, f64),
        text: &str,
        size: f64,
        fill: &str,
        anchor: &str,
        extra: &[(&str, String)],
    ) {
        let mut attributes = vec![
            ("x", n(x)),
            ("y", n(y)),
            ("font-size", n(size)),
            ("fill", fill.to_owned()),
            ("text-anchor", anchor.to_owned()),
        ];
        attributes.extend_from_slice(extra);
        self.open("text", &attributes);
        self.out.push_str(&escape(text));
        self.close("text");
    }

    /// A mark with its tooltip (`<title>`): the data the mark stands for.
    pub fn mark(&mut self, name: &str, attributes: &[(&str, String)], tooltip: &str) {
        self.open(name, attributes);
        let _ = write!(self.out, "<title>{}</title>", escape(tooltip));
        self.close(name);
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}
