//! The server's own state rather than the request's: writes paused for a
//! full disk or a storage failure, a write whose outcome is unknown,
//! internal errors.
