//! Conditional requests (RFC 9110 §13.1): `If-Match` and `If-None-Match` read into the
//! store's [`Precondition`], and the `304` check of reads.
//!
//! Only a header that is not a list of entity tags (or `*`) is a 400. A well-formed tag this API
//! never issued (`"bogus"`, a number too large to be a version) simply never matches: 412 for
//! `If-Match`, a normal answer for `If-None-Match`. `If-Match` compares strongly, so weak tags
//! never match it; `If-None-Match` compares weakly, so `W/"7"` names version 7.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::item::Version;
use portcullis_domain::store::{EntityTags, Precondition};
use portcullis_http::Problem;

/// One entity tag of a list: whether it is weak, and the version it names, if it names one.
struct Tag {
    weak: bool,
    version: Option<Version>,
}

fn malformed(name: &header::HeaderName) -> Problem {
    Problem::bad_request(format!("{name} must be * or a list of entity tags"))
}

/// Parses `*` or `#entity-tag` (RFC 9110 §8.8.3): `W/`-prefixed or plain quoted strings of
/// `etagc` characters, separated by commas.
fn parse_tags(name: &header::HeaderName, value: &HeaderValue) -> Result<Option<Vec<Tag>>, Problem> {
    let text = value.to_str().map_err(|_| malformed(name))?.trim();
    if text == "*" {
        return Ok(None);
    }
    let mut tags = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (weak, quoted) = match part.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        let opaque = quoted
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| t.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)))
            .ok_or_else(|| malformed(name))?;
        let version = opaque
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| opaque.parse().ok().map(Version))
            .flatten();
        tags.push(Tag { weak, version });
    }
    Ok(Some(tags))
}

/// The versions a list names under strong (weak tags left out) or weak comparison.
fn named(tags: Option<Vec<Tag>>, strong: bool) -> EntityTags {
    match tags {
        None => EntityTags::Any,
        Some(tags) => EntityTags::Versions(
            tags.into_iter()
                .filter(|tag| !(strong && tag.weak))
                .filter_map(|tag| tag.version)
                .collect(),
        ),
    }
}

/// The precondition of a write, from `If-Match` and `If-None-Match`.
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, Problem> {
    let read = |name: header::HeaderName, strong: bool| {
        headers
            .get(&name)
            .map(|value| parse_tags(&name, value).map(|tags| named(tags, strong)))
            .transpose()
    };
    Ok(Precondition {
        if_match: read(header::IF_MATCH, true)?,
        if_none_match: read(header::IF_NONE_MATCH, false)?,
    })
}

/// Whether a read should be answered `304 Not Modified`: `If-None-Match` names the current
/// version (weak comparison) or is `*`.
pub fn not_modified(headers: &HeaderMap, version: Version) -> Result<bool, Problem> {
    let Some(value) = headers.get(header::IF_NONE_MATCH) else {
        return Ok(false);
    };
    let tags = parse_tags(&header::IF_NONE_MATCH, value)?;
    Ok(match named(tags, false) {
        EntityTags::Any => true,
        EntityTags::Versions(versions) => versions.contains(&version),
    })
}

/// The 412 of a failed precondition.
pub fn failed() -> Problem {
    Problem::new(StatusCode::PRECONDITION_FAILED)
        .detail("the item has changed since the version you named, or its existence does not match")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_static(v)))
            .collect()
    }

    fn if_match(value: &'static str) -> Result<Precondition, Problem> {
        precondition(&headers(&[(header::IF_MATCH, value)]))
    }

    #[test]
    fn write_preconditions() {
        assert_eq!(precondition(&headers(&[])).unwrap(), Precondition::NONE);
        assert_eq!(
            if_match("\"7\"").unwrap(),
            Precondition::matches(Version(7))
        );
        assert_eq!(if_match("*").unwrap(), Precondition::exists());
        let create_only = precondition(&headers(&[(header::IF_NONE_MATCH, "*")])).unwrap();
        assert_eq!(create_only, Precondition::absent());
        assert_eq!(
            if_match(r#""1", W/"2", "3""#).unwrap().if_match,
            Some(EntityTags::Versions(vec![Version(1), Version(3)])),
            "lists are allowed; weak tags never match If-Match"
        );
    }

    #[test]
    fn well_formed_tags_never_issued_fail_the_precondition_instead_of_400() {
        // The review's case: a valid entity tag that is no version of ours.
        for never_issued in [
            "\"bogus\"",
            "W/\"7\"",
            "\"99999999999999999999999\"",
            "\"\"",
        ] {
            let parsed = if_match(never_issued).unwrap();
            assert_eq!(
                parsed.if_match,
                Some(EntityTags::Versions(vec![])),
                "{never_issued}"
            );
            assert!(!parsed.holds(Some(Version(7))) && !parsed.holds(None));
        }
        for syntax_error in ["7", "\"x", "\"a b\"", "\"1\" \"2\"", "W/", ""] {
            let error = if_match(syntax_error).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{syntax_error:?}");
        }
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let inm = |value: &'static str| headers(&[(header::IF_NONE_MATCH, value)]);
        assert!(not_modified(&inm("\"3\""), Version(3)).unwrap());
        assert!(not_modified(&inm("W/\"3\", \"4\""), Version(3)).unwrap());
        assert!(not_modified(&inm("*"), Version(3)).unwrap());
        assert!(!not_modified(&inm("\"4\""), Version(3)).unwrap());
        assert!(!not_modified(&inm("\"bogus\""), Version(3)).unwrap());
        assert!(!not_modified(&headers(&[]), Version(3)).unwrap());
        for malformed in ["3", "\"3", "\"3\", 4", "W/"] {
            assert!(
                not_modified(&inm(malformed), Version(3)).is_err(),
                "{malformed}"
            );
        }
        let write = precondition(&inm("W/\"3\"")).unwrap();
        assert!(!write.holds(Some(Version(3))), "a weak match stops a write");
        assert!(write.holds(Some(Version(4))) && write.holds(None));
    }
}
