//! PNG from the SVG, rasterised by resvg with the embedded DejaVu Sans (the only font the
//! charts use; no system font is looked up).

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("the SVG could not be read: {0}")]
    Svg(String),
    #[error("the image could not be allocated or encoded: {0}")]
    Raster(String),
}

fn fonts() -> Arc<usvg::fontdb::Database> {
    static DATABASE: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DATABASE
        .get_or_init(|| {
            let mut database = usvg::fontdb::Database::new();
            database.load_font_data(FONT.to_vec());
            database.set_sans_serif_family("DejaVu Sans");
            Arc::new(database)
        })
        .clone()
}

/// The SVG rasterised at its own size.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, PngError> {
    let options = usvg::Options { fontdb: fonts(), font_family: "DejaVu Sans".into(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| PngError::Svg(e.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| PngError::Raster(format!("{}×{} pixels", size.width(), size.height())))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| PngError::Raster(e.to_string()))
}
