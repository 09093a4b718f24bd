//! The cause of an adapter's failure, kept whole for the logs.
//!
//! Port errors say *what* failed in domain terms ("the cache is unavailable"); the adapter's own
//! error (a Redis timeout, an SQL error) is their [`std::error::Error::source`], boxed so the
//! domain names no I/O type. Logs print the whole chain with [`Chain`]; callers never see it.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An adapter's error behind a port error. Shared (`Arc`), so port errors that travel through
/// shared futures (the item store's single flight) stay `Clone`.
#[derive(Clone, Debug)]
pub struct Cause(Arc<dyn Error + Send + Sync>);

impl Cause {
    /// Keeps `error` (an adapter's error, or a message for failures that have none).
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(Arc::from(error.into()))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// Displays an error and every cause under it, `outer: inner: innermost`, for logs.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cache unavailable")]
    struct Outer(#[source] Cause);

    #[test]
    fn the_chain_keeps_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "redis call timed out");
        let error = Outer(Cause::new(io));
        assert_eq!(
            error.to_string(),
            "cache unavailable",
            "callers see no internals"
        );
        assert_eq!(
            Chain(&error).to_string(),
            "cache unavailable: redis call timed out"
        );
        let message = Outer(Cause::new("unexpected reply"));
        assert_eq!(
            Chain(&message).to_string(),
            "cache unavailable: unexpected reply"
        );
    }
}
