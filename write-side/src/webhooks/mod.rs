//! Webhooks to sellers' `callback_url`s: which URLs may be called ([`address`]), and the
//! worker that signs, sends, retries and records them ([`notifier`]).

pub mod address;
pub mod notifier;

pub use address::{CallbackPolicy, Refusal};
pub use notifier::{Notifier, NotifierConfig};
