//! A trained model's performance on its held-out events, and its typed answer.

use footprint_analytics::logistic::BinaryMetrics;

pub use crate::kernel::registry::{
    AccuracyPoint, AfterTraining, MetricsView, ModelPerformance, PerformanceView, Trends,
};

use super::*;

/// A held-out registration as the model scored it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub event_start_us: i64,
    /// Under three past registrations: the hard case, a segment of its own.
    pub new_user: bool,
    pub probability: f64,
    pub attended: bool,
}

/// A model's held-out scores: on its validation window (by the model fitted without those days)
/// and on the registrations whose events started after its training data ended (by the served
/// model), in its own feature space.
pub struct HeldOut {
    pub validation: Vec<Scored>,
    pub after_training: Vec<Scored>,
    /// Where "after training" starts: the training window's end, else the training time.
    pub after_from_us: Option<i64>,
}

/// The model's record and its held-out scores.
pub async fn held_out_scores(state: &AppState, model_id: &str) -> Result<(ModelRecord, HeldOut), ApiError> {
    let (record, model) = usable_model(state, model_id).await?;
    let hyper: Value = serde_json::from_str(&record.hyperparameters).unwrap_or(Value::Null);
    let validation = hyper.get("validationSplit").and_then(Value::as_f64).unwrap_or(0.2);
    let window: Value = serde_json::from_str(&record.data_window).unwrap_or(Value::Null);
    let bound =
        |name: &str| window.get(name).and_then(Value::as_str).and_then(|t| crate::kernel::time::instant(name, t).ok());
    let training_end = bound("to").or(record.trained_at_us);
    // Everything from the window's start: the histories of later registrations need the earlier ones.
    let (events, registrations) = records(state, bound("from"), None).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let held_out = tokio::task::spawn_blocking(move || {
        let (examples, _) = attendance::examples_in(&model.space, &infos, &regs);
        let scored = |e: &attendance::Example, by: &AttendanceModel| Scored {
            event_start_us: e.event_start_us,
            new_user: e.features.get(1).copied().unwrap_or(0.0) < 3f64.ln_1p(),
            probability: by.probability(&e.features),
            attended: e.attended,
        };
        let cut = training_end.map_or(examples.len(), |end| examples.partition_point(|e| e.event_start_us < end));
        let (trained_on, after) = examples.split_at(cut);
        // The same whole days training validated on, scored by the model fitted before them
        // (the served one was refitted on them too).
        let before_refit = model.held_out.as_deref().unwrap_or(&model);
        let starts: Vec<i64> = trained_on.iter().map(|e| e.event_start_us).collect();
        HeldOut {
            validation: trained_on[attendance::validation_start(&starts, validation)..]
                .iter()
                .map(|e| scored(e, before_refit))
                .collect(),
            after_training: after.iter().map(|e| scored(e, &model)).collect(),
            after_from_us: training_end,
        }
    })
    .await
    .map_err(ApiError::internal)?;
    Ok((record, held_out))
}

/// A model's performance on the latest part of its data (the validation window it was trained
/// with): overall metrics, by month of the event and by segment, and feature importance.
pub async fn performance(state: &AppState, model_id: &str) -> Result<ModelPerformance, ApiError> {
    if let Some(record) = state.store.model(model_id).await?
        && record.model_type != MODEL_TYPE
    {
        // Other kinds keep their held-out performance with the model when they are trained.
        return crate::kernel::registry::stored_performance(record);
    }
    let (record, held_out) = held_out_scores(state, model_id).await?;
    let after_training = (!held_out.after_training.is_empty()).then(|| {
        let p: Vec<f64> = held_out.after_training.iter().map(|s| s.probability).collect();
        let y: Vec<bool> = held_out.after_training.iter().map(|s| s.attended).collect();
        AfterTraining {
            from: held_out.after_from_us.map(rfc3339).unwrap_or_default(),
            evaluated_on: p.len(),
            overall: MetricsView::of(BinaryMetrics::compute(&p, &y)),
            calibration: footprint_analytics::logistic::calibration(&p, &y, 10),
        }
    });
    let validation = held_out.validation;
    let result = tokio::task::spawn_blocking(move || {
        let scored: Vec<(String, String, f64, bool)> = validation
            .iter()
            .map(|s| {
                let segment = if s.new_user { "new_users" } else { "returning_users" };
                (rfc3339(s.event_start_us)[..7].to_owned(), segment.to_owned(), s.probability, s.attended)
            })
            .collect();
        let metrics = |rows: &[&(String, String, f64, bool)]| {
            let p: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let y: Vec<bool> = rows.iter().map(|r| r.3).collect();
            MetricsView::of(BinaryMetrics::compute(&p, &y))
        };
        let all: Vec<&(String, String, f64, bool)> = scored.iter().collect();
        let mut by_month: BTreeMap<String, Vec<&(String, String, f64, bool)>> = BTreeMap::new();
        let mut by_segment: BTreeMap<String, Vec<&(String, String, f64, bool)>> = BTreeMap::new();
        for row in &scored {
            by_month.entry(row.0.clone()).or_default().push(row);
            by_segment.entry(row.1.clone()).or_default().push(row);
        }
        let overall = metrics(&all);
        let confusion = overall.as_ref().map(|o| &o.metrics.confusion);
        let matrix =
            [[confusion.map(|c| c.tn), confusion.map(|c| c.fp)], [confusion.map(|c| c.fn_), confusion.map(|c| c.tp)]];
        let over_time = by_month
            .iter()
            .map(|(month, rows)| AccuracyPoint {
                date: format!("{month}-01"),
                accuracy: metrics(rows).map(|m| m.metrics.accuracy),
                n: rows.len(),
            })
            .collect();
        let view = PerformanceView {
            confusion_matrix: matrix,
            overall,
            by_month: by_month.iter().map(|(month, rows)| (month.clone(), metrics(rows))).collect(),
            by_segment: by_segment.iter().map(|(segment, rows)| (segment.clone(), metrics(rows))).collect(),
            feature_importance: Value::Null,
            evaluated_on: scored.len(),
            calibration: None,
            after_training,
        };
        (view, over_time)
    })
    .await
    .map_err(ApiError::internal)?;
    let (mut view, accuracy_over_time) = result;
    let stored: Value = serde_json::from_str(&record.metrics).unwrap_or(Value::Null);
    let importance = stored.get("featureImportance").cloned().unwrap_or(Value::Null);
    view.feature_importance = importance.clone();
    Ok(ModelPerformance {
        model_id: record.model_id,
        version: record.version,
        trained_at: record.trained_at_us.map(rfc3339),
        performance: view,
        trends: Trends { accuracy_over_time },
        feature_importance: importance,
    })
}
