//! What every handler gets: configuration, mutable state, simulated time, the request.

use crate::config::SimConfig;
use crate::state::SimState;
use connector::{HttpRequest, Method};

/// Handler context for one request.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a SimConfig,
    pub st: &'a mut SimState,
    pub now: u64,
    /// Who the credentials identified, for the call record.
    pub principal: String,
}

impl Ctx<'_> {
    /// A fresh request id for error bodies (`request_id`, datev.md §3).
    pub fn request_id(&mut self) -> String {
        self.st.rng.uuid()
    }
}

/// The request as routed: the path within the service and the decoded query.
pub(crate) struct Req<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub raw: &'a HttpRequest,
}

impl Req<'_> {
    /// First query value.
    pub fn query(&self, name: &str) -> Option<&str> {
        crate::util::param(&self.query, name)
    }
    /// Path segments without empty ones.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}
