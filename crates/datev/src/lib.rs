//! DATEV online API client (skeleton).
