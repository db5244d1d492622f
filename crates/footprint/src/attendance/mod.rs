//! Attendance (seed 004): the attendance records (events, registrations, check-ins, imports),
//! what organisations declare for them (time zone, attributes' kinds),
//! the attendance model (training, predictions, analyses, anomalies, recommendations,
//! insights, batch and test predictions), the typed answers of the `/api/ml` routes and the log
//! of their use.

pub mod http;
pub mod import;
mod input;
pub mod model;
pub mod organizations;
pub mod records;
pub mod transfer;
pub mod usage;
pub mod views;
