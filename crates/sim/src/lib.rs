//! Simulator of DATEV and Twilio (work in progress).
