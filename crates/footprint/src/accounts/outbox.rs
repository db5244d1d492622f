//! Messages to users (seed 003's e-mail and SMS sign-in codes) go through a [`MessageSender`].
//! The default one, [`OutboxSender`], leaves them in the store's outbox (recipient and body
//! encrypted), where an admin reads them (`GET /api/v1/admin/outbox`); the log says a message
//! was left, never what it says. A deployment with a mail or SMS gateway plugs its own sender in.

use async_trait::async_trait;
use footprint_store::{OutboxMessage, Store};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use crate::kernel::clock::{Clock, rfc3339};
use crate::kernel::crypto::FieldCipher;
use crate::kernel::error::ApiError;

/// One message to one user.
#[derive(Clone)]
pub struct Message {
    pub user_id: String,
    /// `email` or `sms`.
    pub channel: &'static str,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait MessageSender: Send + Sync {
    async fn send(&self, message: Message) -> Result<(), ApiError>;
}

/// The default sender: the outbox table.
pub struct OutboxSender {
    store: Arc<dyn Store>,
    cipher: FieldCipher,
    clock: Arc<dyn Clock>,
}

impl OutboxSender {
    pub fn new(store: Arc<dyn Store>, cipher: FieldCipher, clock: Arc<dyn Clock>) -> Self {
        Self { store, cipher, clock }
    }
}

#[async_trait]
impl MessageSender for OutboxSender {
    async fn send(&self, message: Message) -> Result<(), ApiError> {
        let now_us = self.clock.now_us();
        let id = self
            .store
            .append_outbox(OutboxMessage {
                id: 0,
                user_id: message.user_id.clone(),
                channel: message.channel.to_owned(),
                recipient_enc: self.cipher.encrypt(&message.recipient),
                subject: message.subject,
                body_enc: self.cipher.encrypt(&message.body),
                created_at_us: now_us,
            })
            .await?;
        tracing::info!(id, channel = message.channel, "a message was left in the outbox");
        Ok(())
    }
}

/// An outbox message as an admin reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxView {
    pub id: i64,
    pub user_id: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
}

/// The latest `limit` messages, newest first.
pub async fn latest(store: &dyn Store, cipher: &FieldCipher, limit: u32) -> Result<Vec<OutboxView>, ApiError> {
    store
        .outbox(limit.clamp(1, 1000))
        .await?
        .into_iter()
        .map(|message| {
            Ok(OutboxView {
                id: message.id,
                user_id: message.user_id,
                channel: message.channel,
                recipient: cipher.decrypt(&message.recipient_enc).map_err(ApiError::internal)?,
                subject: message.subject,
                body: cipher.decrypt(&message.body_enc).map_err(ApiError::internal)?,
                created_at: rfc3339(message.created_at_us),
            })
        })
        .collect()
}
