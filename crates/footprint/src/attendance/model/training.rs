//! Training runs: registered as `training`, fitted in the background (a run of the `jobs`
//! tracker, off the request thread, cut off at `ml.training_timeout_secs`) on the attendance
//! records (users who explicitly refused `improvement` left out), stored `ready` or `error`. At
//! most `ml.max_trainings_per_hour` runs start in any hour, counted in the registry so that the
//! limit holds across nodes.

use super::*;

const MIN_EXAMPLES: u64 = 50;

/// What a training run may be given (all optional), in the seed's words.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainRequest {
    /// `attendance_predictor` (the only type trained here).
    pub model_type: Option<String>,
    /// A label of the client's; versions are numbered by the registry.
    pub version: Option<String>,
    pub training_data: Option<TrainingData>,
    /// `{"l2": 1.0, "family": "auto"}`: the L2 penalty of the logistic regression, and the
    /// family (`auto`: the better of `logistic` and `trees` on the validation days, trees from
    /// 5 000 training registrations). Gradient-descent settings (`learningRate`, `epochs`,
    /// `batchSize`) do not apply to the Newton solver and are reported as ignored.
    #[schema(value_type = Option<Object>)]
    pub hyperparameters: Option<serde_json::Map<String, Value>>,
    /// Share of the latest examples held out (0.05–0.5, default 0.2).
    pub validation_split: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingData {
    /// Events starting at or after (RFC 3339).
    pub start_date: Option<String>,
    /// Events starting before (RFC 3339).
    pub end_date: Option<String>,
    /// Use the events' weather (default true).
    pub include_weather: Option<bool>,
    /// No holiday calendar is kept: reported as ignored.
    pub include_holidays: Option<bool>,
    /// Fewest examples to train on (default 50).
    pub min_data_points: Option<u64>,
}

/// Users whose latest consent explicitly refuses `improvement`.
async fn refusing(state: &AppState, users: &HashSet<String>) -> Result<HashSet<String>, ApiError> {
    let mut refused = HashSet::new();
    for user in users {
        if let Some(latest) = state.store.consent_history(user).await?.last()
            && !latest.consent.improvement
        {
            refused.insert(user.clone());
        }
    }
    Ok(refused)
}

fn window(request: &TrainRequest) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let data = request.training_data.clone().unwrap_or_default();
    let window = TimeWindow::from_bounds(
        ("trainingData.startDate", data.start_date.as_deref()),
        ("trainingData.endDate", data.end_date.as_deref()),
    )?;
    Ok((window.start_us, window.end_us))
}

/// At most `ml.max_trainings_per_hour` runs started in the last hour, counted in the registry
/// (so across every node); else 429 with the wait until the oldest of them is an hour old.
async fn check_training_rate(state: &AppState, now_us: i64) -> Result<(), ApiError> {
    let filter = ModelFilter { name: Some(MODEL_NAME.to_owned()), ..ModelFilter::default() };
    let mut recent: Vec<i64> =
        state.store.models(filter).await?.iter().map(|m| m.created_at_us).filter(|at| *at > now_us - HOUR_US).collect();
    let limit = state.config.ml.max_trainings_per_hour as usize;
    if recent.len() < limit {
        return Ok(());
    }
    recent.sort_unstable();
    // The run that must age out before one more may start.
    let frees_at = recent[recent.len() - limit] + HOUR_US;
    let retry_after_secs = u64::try_from((frees_at - now_us) / 1_000_000).unwrap_or(0) + 1;
    Err(ApiError::TooManyRequests {
        message: format!(
            "{} training runs started in the last hour (ml.max_trainings_per_hour = {limit}); retry in {retry_after_secs} s",
            recent.len()
        ),
        retry_after_secs,
    })
}

/// Registers a model version in `training`, trains it in the background, and returns its id.
pub async fn start_training(state: &AppState, request: TrainRequest) -> Result<ModelRecord, ApiError> {
    if let Some(kind) = request.model_type.as_deref()
        && kind != MODEL_TYPE
    {
        return Err(ApiError::InvalidParameters(format!("modelType: only {MODEL_TYPE} is trained here")));
    }
    let mut ignored: Vec<String> = request
        .hyperparameters
        .iter()
        .flat_map(|h| h.keys())
        .filter(|key| *key != "l2" && *key != "family")
        .map(|key| format!("hyperparameters.{key}"))
        .collect();
    let data = request.training_data.clone().unwrap_or_default();
    if data.include_holidays.is_some() {
        ignored.push("trainingData.includeHolidays".to_owned());
    }
    let include_weather = data.include_weather.unwrap_or(true);
    let min_examples = data.min_data_points.unwrap_or(MIN_EXAMPLES).max(10);
    let l2 = match request.hyperparameters.as_ref().and_then(|h| h.get("l2")) {
        None => 1.0,
        Some(value) => value
            .as_f64()
            .filter(|l2| l2.is_finite() && *l2 >= 0.0)
            .ok_or_else(|| ApiError::InvalidParameters("hyperparameters.l2: must be a number ≥ 0".to_owned()))?,
    };
    let family = match request.hyperparameters.as_ref().and_then(|h| h.get("family")) {
        None => FamilyChoice::Auto,
        Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
            ApiError::InvalidParameters("hyperparameters.family: must be auto, logistic or trees".to_owned())
        })?,
    };
    let validation = request.validation_split.unwrap_or(0.2);
    if !(0.05..=0.5).contains(&validation) {
        return Err(ApiError::InvalidParameters("validationSplit: must be from 0.05 to 0.5".to_owned()));
    }
    let (from_us, to_us) = window(&request)?;
    let now_us = state.clock.now_us();
    // When the records plainly do not suffice, say so now rather than through a failed run.
    let (_, registrations) = records(state, from_us, to_us).await?;
    let available = registrations.iter().filter(|r| r.attended.is_some()).count() as u64;
    if available < min_examples {
        return Err(insufficient(min_examples, available));
    }
    check_training_rate(state, now_us).await?;
    let model_id = format!("model-{}", ulid::Ulid::new().to_string().to_lowercase());
    let record = ModelRecord {
        hyperparameters: json!({
            "l2": l2, "family": family, "validationSplit": validation, "includeWeather": include_weather, "minDataPoints": min_examples,
            "clientVersion": request.version, "ignored": ignored,
        })
        .to_string(),
        data_window: json!({"from": from_us.map(rfc3339), "to": to_us.map(rfc3339)}).to_string(),
        ..ModelRecord::registered(&model_id, MODEL_NAME, MODEL_TYPE, "training", now_us)
    };
    if state.tasks.is_stopping() {
        return Err(shutting_down());
    }
    let stored = state.store.create_model(record).await?;
    let background = state.clone();
    let mut model = stored.clone();
    let run = state.tasks.run("attendance training", async move {
        let timeout = background.config.ml.training_timeout_secs;
        let trained = tokio::time::timeout(
            timeout,
            train(&background, from_us, to_us, (l2, family), validation, include_weather, min_examples),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::ModelTrainingError(format!(
                "the run took longer than ml.training_timeout_secs ({} s)",
                timeout.as_secs()
            )))
        });
        let outcome = match trained {
            Ok((parameters, metrics, rows)) => {
                model.status = "ready".to_owned();
                model.parameters = parameters;
                model.metrics = metrics;
                model.rows_used = rows;
                Ok(())
            }
            Err(error) => {
                model.status = "error".to_owned();
                model.error = Some(error.to_string());
                Err(error.to_string())
            }
        };
        model.trained_at_us = Some(background.clock.now_us());
        let trained = model.clone();
        if let Err(error) = background.store.update_model(model).await {
            tracing::error!(error = %error, "the trained model could not be stored");
            return Err(format!("the trained model could not be stored: {error}"));
        }
        crate::webhooks::model_trained(&background, &trained).await;
        outcome
    });
    if run.is_err() {
        // Shutdown began between the check and the start: the run never starts.
        let mut model = stored;
        model.status = "error".to_owned();
        model.error = Some(crate::kernel::registry::INTERRUPTED.to_owned());
        model.trained_at_us = Some(state.clock.now_us());
        state.store.update_model(model).await?;
        return Err(shutting_down());
    }
    Ok(stored)
}

/// Too few registrations with a known outcome to train on (before the run, or once users who
/// refused `improvement` are left out).
fn insufficient(needed: u64, available: u64) -> ApiError {
    ApiError::InsufficientData {
        message: format!("training needs at least {needed} registrations with a known outcome; there are {available}"),
        needed,
        available,
    }
}

fn shutting_down() -> ApiError {
    ApiError::Unavailable {
        message: "the server is shutting down; start the training on another node or shortly".to_owned(),
        retry_after_secs: Some(5),
    }
}

async fn train(
    state: &AppState,
    from_us: Option<i64>,
    to_us: Option<i64>,
    (l2, family): (f64, FamilyChoice),
    validation: f64,
    include_weather: bool,
    min_examples: u64,
) -> Result<(String, String, i64), ApiError> {
    let (events, registrations) = records(state, from_us, to_us).await?;
    let users: HashSet<String> = registrations.iter().map(|r| r.user_id.clone()).collect();
    let refused = refusing(state, &users).await?;
    let infos: Vec<EventInfo> = events
        .iter()
        .map(|event| {
            let info = event_info(event);
            if include_weather { info } else { EventInfo { bad_weather: None, temperature_c: None, ..info } }
        })
        .collect();
    let regs: Vec<RegistrationInfo> =
        registrations.iter().filter(|r| !refused.contains(&r.user_id)).map(registration_info).collect();
    let result = tokio::task::spawn_blocking(move || {
        let available = regs.iter().filter(|r| r.attended.is_some()).count() as u64;
        if available < min_examples {
            return Err(insufficient(min_examples, available));
        }
        let options = TrainOptions {
            logistic: LogisticConfig { l2, ..LogisticConfig::default() },
            family,
            validation_fraction: validation,
            ..TrainOptions::default()
        };
        attendance::train(&infos, &regs, &options)
            .map_err(|error| ApiError::Validation(format!("the model could not be fitted: {error}")))
    })
    .await
    .map_err(ApiError::internal)??;
    let family = result.family;
    let importance: Vec<Value> = result
        .model
        .importance()
        .into_iter()
        .map(|(name, weight)| match family {
            Family::Logistic => json!({"feature": name, "importance": weight.abs(), "weight": weight}),
            Family::Trees => json!({"feature": name, "importance": weight}),
        })
        .collect();
    let metrics = json!({
        "family": family,
        "train": result.train,
        "validation": result.validation,
        "trainRows": result.train_rows,
        "validationRows": result.validation_rows,
        "validationFrom": result.validation_from_us.map(rfc3339),
        "families": result.families,
        "calibration": {
            "method": result.model.calibration.as_ref().map(|c| c.method()),
            "table": result.calibration_table,
        },
        "noShows": result.no_shows,
        "featureImportance": importance,
        "excludedUsers": refused.len(),
    });
    let rows = (result.train_rows + result.validation_rows) as i64;
    Ok((serde_json::to_string(&result.model).map_err(ApiError::internal)?, metrics.to_string(), rows))
}
