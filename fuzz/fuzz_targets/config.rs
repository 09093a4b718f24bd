//! Configuration parsing: the users file (TOML an operator edits) and every flag of both services
//! (rate-limit policies, durations, addresses, proxy networks, CORS origins). Never panics; a
//! configuration either becomes settings or is refused with a named setting.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;

#[derive(Parser)]
struct Issuer {
    #[command(flatten)]
    config: auth_issuer::Args,
}

#[derive(Parser)]
struct DataApi {
    #[command(flatten)]
    config: data_api::Args,
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    // Arguments are separated by newlines: `--rate-limit\n5/s,100/min`.
    let args = std::iter::once("fuzz").chain(text.split('\n'));
    match selector % 3 {
        0 => {
            let _ = portcullis_directory::FileDirectory::from_toml(text);
        }
        1 => {
            if let Ok(cli) = Issuer::try_parse_from(args) {
                let _ = auth_issuer::Settings::try_from(cli.config);
            }
        }
        _ => {
            if let Ok(cli) = DataApi::try_parse_from(args) {
                let _ = data_api::Settings::try_from(cli.config);
            }
        }
    }
});
