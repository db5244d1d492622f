//! What a person sees: the charts of seed 000 (and those the other seeds' data asks for),
//! drawn by `footprint-charts` from what the services compute, served by
//! `GET /api/visualizations/{type}` and written to files by the library face
//! (`BehaviorVisualization`).
//!
//! `kinds` names the chart types, `charts` draws any of them and the segment charts, `user_charts` those of one
//! user, `model_charts` those of seeds 001, 002 and 004; `visualization` the library face and its dashboards; `http` the route;
//! `web` the dashboard served at `/`.

pub mod charts;
pub mod http;
mod insight_charts;
mod kinds;
mod model_charts;
mod user_charts;
pub mod visualization;
pub mod web;

pub use visualization::BehaviorVisualization;
