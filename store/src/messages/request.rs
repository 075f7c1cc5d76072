//! The request as a whole, before any operation looks at it: the wire
//! (serialization, unknown operations, sizes, compression), required
//! parameters, and the `N validation errors detected: ...` envelope of
//! member constraint violations.
