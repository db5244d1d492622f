//! The store's error type: handlers never see driver errors.

/// What can go wrong in the store, as the services need to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the message names what is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The store is configured wrongly or cannot be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        // Another process holding the database past the busy timeout is a passing condition.
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && matches!(failure.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        {
            return StoreError::Unavailable(error.to_string());
        }
        StoreError::Other(Box::new(error))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if error.is_closed() {
            return StoreError::Unavailable(error.to_string());
        }
        StoreError::Other(Box::new(error))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Other(Box::new(error))
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(error: tokio::task::JoinError) -> Self {
        StoreError::Other(Box::new(error))
    }
}
