//! Twilio request validation (work in progress).
