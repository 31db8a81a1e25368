//! Embedded Spin test host.
