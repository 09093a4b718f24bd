//! Where a service's command-line settings come from when the service is embedded rather than
//! started from its binary: the all-in-one launcher reads the environment, tests read nothing.
//!
//! Tests build on [`defaults`] so that an `ISSUER_*` or `DATA_API_*` variable left in a
//! developer's shell cannot change what a test runs against.

/// Settings from the environment and the defaults, with no command line: the `portcullis dev`
/// launcher, whose documentation promises that both services' variables apply.
pub fn from_env<A>() -> Result<A, clap::Error>
where
    A: clap::Args + clap::FromArgMatches,
{
    parse(true)
}

/// Settings from the defaults alone: no command line and no environment variable is read.
///
/// # Panics
/// If a default does not parse; each service's tests build on this, so that cannot ship.
pub fn defaults<A>() -> A
where
    A: clap::Args + clap::FromArgMatches,
{
    parse(false).expect("every setting's default parses")
}

fn parse<A>(read_env: bool) -> Result<A, clap::Error>
where
    A: clap::Args + clap::FromArgMatches,
{
    let mut command = A::augment_args(clap::Command::new("portcullis").no_binary_name(true));
    if !read_env {
        command = command.mut_args(|arg| arg.env(None::<&'static str>));
    }
    let matches = command.try_get_matches_from(std::iter::empty::<String>())?;
    A::from_arg_matches(&matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A setting with a default and one without.
    #[derive(clap::Args, Debug)]
    struct Example {
        /// Has a default.
        #[arg(long, env = "PORTCULLIS_CONFIG_SOURCE_TEST_A", default_value_t = 1)]
        a: u32,
        /// Optional.
        #[arg(long, env = "PORTCULLIS_CONFIG_SOURCE_TEST_B")]
        b: Option<String>,
    }

    #[test]
    fn defaults_ignore_the_environment_and_from_env_reads_it() {
        // Variables no other test reads.
        std::env::set_var("PORTCULLIS_CONFIG_SOURCE_TEST_A", "7");
        std::env::set_var("PORTCULLIS_CONFIG_SOURCE_TEST_B", "set");
        let plain: Example = defaults();
        assert_eq!((plain.a, plain.b), (1, None));
        let read: Example = from_env().unwrap();
        assert_eq!((read.a, read.b.as_deref()), (7, Some("set")));
    }
}
