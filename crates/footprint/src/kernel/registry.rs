//! The kinds of models the model registry holds (one table, read by the areas that train them
//! and by the `/api/ml` views): each type with seed 004's family and a description.

/// A kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelKind {
    /// The registry's `model_type`.
    pub model_type: &'static str,
    /// Seed 004's family: `predictor`, `classifier` or `detector`.
    pub family: &'static str,
    pub description: &'static str,
}

/// Seed 004's attendance predictor.
pub const ATTENDANCE_PREDICTOR: ModelKind = ModelKind {
    model_type: "attendance_predictor",
    family: "predictor",
    description: "Predicts the probability that a registrant attends an event",
};

/// Seed 001's match model.
pub const MATCH_CLASSIFIER: ModelKind = ModelKind {
    model_type: "logistic_regression",
    family: "classifier",
    description: "Predicts whether a proposed match is accepted (seed 001)",
};

/// Every kind trained here.
pub const KINDS: [ModelKind; 2] = [ATTENDANCE_PREDICTOR, MATCH_CLASSIFIER];

/// Seed 004's families, which `GET /api/ml/models?type=` also accepts.
pub const FAMILIES: [&str; 3] = ["predictor", "classifier", "detector"];

/// The family of a model type (`other` for one not trained here).
pub fn family(model_type: &str) -> &'static str {
    KINDS.iter().find(|kind| kind.model_type == model_type).map_or("other", |kind| kind.family)
}

/// The description of a model type (empty for one not trained here).
pub fn description(model_type: &str) -> &'static str {
    KINDS.iter().find(|kind| kind.model_type == model_type).map_or("", |kind| kind.description)
}
