//! Seed 000's `BehaviorVisualization`: a chart written to files (SVG and PNG) under
//! `visualization.output_path`, and the user and cluster dashboards, each one self-contained
//! HTML page (the charts inline) with the chart files beside it.

use std::path::{Path, PathBuf};

use footprint_charts::{Chart, Size, Theme};
use serde::Serialize;

use super::charts::{self, Target, VisType};
use crate::app::config::VisualizationConfig;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;

/// What `create_visualization` wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisualizationFiles {
    pub vis_type: &'static str,
    /// The SVG first, then the PNG.
    pub files: Vec<PathBuf>,
    /// False when the chart is the not-enough-data panel.
    pub has_data: bool,
}

/// What a dashboard wrote: the page and every chart's files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardFiles {
    pub page: PathBuf,
    pub charts: Vec<VisualizationFiles>,
}

/// Which files a chart is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Formats {
    #[default]
    SvgAndPng,
    Svg,
    Png,
}

#[derive(Clone)]
pub struct BehaviorVisualization {
    state: AppState,
    config: VisualizationConfig,
    formats: Formats,
}

impl BehaviorVisualization {
    /// With the instance's `visualization` configuration.
    pub fn new(state: AppState) -> Self {
        let config = state.config.visualization.clone();
        Self { state, config, formats: Formats::default() }
    }

    /// With another output path, theme or size.
    pub fn with_config(state: AppState, config: VisualizationConfig) -> Self {
        Self { state, config, formats: Formats::default() }
    }

    /// Only SVG or only PNG files (both by default).
    pub fn writing(mut self, formats: Formats) -> Self {
        self.formats = formats;
        self
    }

    fn look(&self) -> Result<(Theme, Size), ApiError> {
        let theme = Theme::named(&self.config.chart_theme).ok_or_else(|| {
            ApiError::Validation(format!("chart_theme: light or dark, not {}", self.config.chart_theme))
        })?;
        Ok((theme, Size::new(self.config.plot_size.width, self.config.plot_size.height)))
    }

    /// Draws `vis_type` (a seed name) for the user or the cluster and writes
    /// `{output_path}/{vis_type}[_{user or cluster}].svg` and `.png`.
    pub async fn create_visualization(
        &self,
        vis_type: &str,
        user_id: Option<&str>,
        cluster_id: Option<&str>,
    ) -> Result<VisualizationFiles, ApiError> {
        let vis = VisType::parse(vis_type)?;
        let target = Target {
            user_id: user_id.map(str::to_owned),
            cluster_id: cluster_id.map(str::to_owned),
            ..Target::default()
        };
        let chart = charts::chart(&self.state, vis, &target).await?;
        let stem = match (user_id, cluster_id) {
            (Some(user), _) => format!("{}_{}", vis.name(), file_safe(user)),
            (None, Some(cluster)) => format!("{}_{}", vis.name(), file_safe(cluster)),
            (None, None) => vis.name().to_owned(),
        };
        self.write(vis, &chart, &self.config.output_path, &stem).await
    }

    async fn write(&self, vis: VisType, chart: &Chart, dir: &Path, stem: &str) -> Result<VisualizationFiles, ApiError> {
        let (theme, size) = self.look()?;
        tokio::fs::create_dir_all(dir).await.map_err(ApiError::internal)?;
        let mut files = Vec::with_capacity(2);
        if self.formats != Formats::Png {
            let path = dir.join(format!("{stem}.svg"));
            tokio::fs::write(&path, chart.to_svg(&theme, size)).await.map_err(ApiError::internal)?;
            files.push(path);
        }
        if self.formats != Formats::Svg {
            let chart = chart.clone();
            let png = tokio::task::spawn_blocking(move || chart.to_png(&theme, size))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            let path = dir.join(format!("{stem}.png"));
            tokio::fs::write(&path, png).await.map_err(ApiError::internal)?;
            files.push(path);
        }
        Ok(VisualizationFiles { vis_type: vis.name(), files, has_data: chart.has_data() })
    }

    /// Every chart of one user on one page: `{output_path}/user_{id}/index.html`.
    pub async fn create_user_dashboard(&self, user_id: &str) -> Result<DashboardFiles, ApiError> {
        let kinds: Vec<VisType> = VisType::ALL.into_iter().filter(|vis| vis.about_a_user()).collect();
        let target = Target { user_id: Some(user_id.to_owned()), ..Target::default() };
        let dir = self.config.output_path.join(format!("user_{}", file_safe(user_id)));
        self.dashboard(&format!("User {user_id}"), &[VisType::ClusterScatter], &kinds, &target, &dir).await
    }

    /// The segment on the plane and against the others: `{output_path}/cluster_{id}/index.html`.
    pub async fn create_cluster_dashboard(&self, cluster_id: &str) -> Result<DashboardFiles, ApiError> {
        let target = Target { cluster_id: Some(cluster_id.to_owned()), ..Target::default() };
        let dir = self.config.output_path.join(format!("cluster_{}", file_safe(cluster_id)));
        let kinds = [VisType::ClusterScatter, VisType::ClusterComparison];
        self.dashboard(&format!("Segment {cluster_id}"), &kinds, &[], &target, &dir).await
    }

    /// A page of `segment_kinds` (drawn for the target's cluster, the user highlighted) and
    /// `user_kinds`, written with each chart's files.
    async fn dashboard(
        &self,
        heading: &str,
        segment_kinds: &[VisType],
        user_kinds: &[VisType],
        target: &Target,
        dir: &Path,
    ) -> Result<DashboardFiles, ApiError> {
        let (theme, size) = self.look()?;
        let mut sections = String::new();
        let mut written = Vec::new();
        for &vis in segment_kinds.iter().chain(user_kinds) {
            let chart = charts::chart(&self.state, vis, target).await?;
            written.push(self.write(vis, &chart, dir, vis.name()).await?);
            let links: Vec<String> = written
                .last()
                .map(|files: &VisualizationFiles| files.files.clone())
                .unwrap_or_default()
                .iter()
                .filter_map(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()))
                .map(|name| format!("<a href=\"{}\">{}</a>", escape(&name), escape(&name)))
                .collect();
            sections.push_str(&format!(
                "<section aria-label=\"{}\">{}<p>{}</p></section>\n",
                escape(&chart.title),
                chart.to_svg(&theme, size),
                links.join(" · ")
            ));
        }
        let page = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · Footprint</title><style>body{{font-family:'DejaVu Sans',Verdana,sans-serif;margin:0 auto;max-width:{max}px;padding:16px;background:{bg};color:{fg}}}\
             section{{margin:24px 0}}svg{{max-width:100%;height:auto}}a{{color:{link}}}</style></head>\
             <body><h1>{title}</h1><p>Generated {at} from the data on record.</p>\n{sections}</body></html>\n",
            title = escape(heading),
            max = size.width + 32,
            bg = theme.background,
            fg = theme.text,
            link = theme.colour(0),
            at = crate::kernel::clock::rfc3339(self.state.clock.now_us()),
        );
        let path = dir.join("index.html");
        tokio::fs::write(&path, page).await.map_err(ApiError::internal)?;
        Ok(DashboardFiles { page: path, charts: written })
    }
}

/// Letters, digits, `-`, `_` and `.` kept; anything else becomes `_` (a file name from an id).
fn file_safe(id: &str) -> String {
    let safe: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    safe.trim_start_matches('.').to_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
