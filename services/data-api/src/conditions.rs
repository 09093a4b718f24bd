//! Conditional requests (RFC 9110 §13.1): `If-Match` and `If-None-Match` read into the
//! store's [`Precondition`], and the `304` check of reads.
//!
//! Only a header that is not a list of entity tags (or `*`) is a 400. A well-formed tag this API
//! never issued (`"bogus"`, a number too large to be a version) simply never matches: 412 for
//! `If-Match`, a normal answer for `If-None-Match`. `If-Match` compares strongly, so weak tags
//! never match it; `If-None-Match` compares weakly, so `W/"7"` names version 7.

use http::{header, HeaderMap, StatusCode};
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

/// `etagc` (RFC 9110 §8.8.3): visible characters but `"`, and obs-text.
fn is_etagc(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x7e).contains(&byte) || byte >= 0x80
}

/// One list element: `W/"…"` or `"…"`, and nothing around it but whitespace.
fn parse_tag(element: &[u8]) -> Option<Tag> {
    let (weak, quoted) = match element.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, element),
    };
    let opaque = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !opaque.iter().copied().all(is_etagc) {
        return None;
    }
    // Versions are issued in canonical decimal: `"07"` is another tag than `"7"`.
    let version = std::str::from_utf8(opaque)
        .ok()
        .and_then(|text| text.parse::<u64>().ok().filter(|v| v.to_string() == text))
        .map(Version);
    Some(Tag { weak, version })
}

/// Parses every field line of `*` or `#entity-tag` as one list (RFC 9110 §5.3, §5.6.1):
/// commas inside a tag's quotes belong to the tag, and empty elements are ignored. `None`
/// stands for `*`, which must stand alone.
fn parse_tags(name: &header::HeaderName, headers: &HeaderMap) -> Result<Option<Vec<Tag>>, Problem> {
    let mut elements: Vec<&[u8]> = Vec::new();
    for line in headers.get_all(name) {
        let mut rest = line.as_bytes();
        while !rest.is_empty() {
            // An element ends at the first comma outside quotes.
            let mut quoted = false;
            let end = rest
                .iter()
                .position(|&b| {
                    quoted ^= b == b'"';
                    b == b',' && !quoted
                })
                .unwrap_or(rest.len());
            elements.push(rest[..end].trim_ascii());
            rest = rest.get(end + 1..).unwrap_or_default();
        }
    }
    elements.retain(|element| !element.is_empty());
    if elements.iter().any(|element| *element == b"*") {
        return match elements.len() {
            1 => Ok(None),
            _ => Err(malformed(name)),
        };
    }
    if elements.is_empty() {
        return Err(malformed(name));
    }
    elements
        .into_iter()
        .map(|element| parse_tag(element).ok_or_else(|| malformed(name)))
        .collect::<Result<_, _>>()
        .map(Some)
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

/// The precondition of a request, from `If-Match` and `If-None-Match` (every field line).
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, Problem> {
    let read = |name: header::HeaderName, strong: bool| {
        headers
            .contains_key(&name)
            .then(|| parse_tags(&name, headers).map(|tags| named(tags, strong)))
            .transpose()
    };
    Ok(Precondition {
        if_match: read(header::IF_MATCH, true)?,
        if_none_match: read(header::IF_NONE_MATCH, false)?,
    })
}

/// How a read of an item at `version` answers its conditions (RFC 9110 §13.2.2): a 412 when
/// `If-Match` fails, `true` (304 Not Modified) when `If-None-Match` names the version or is
/// `*`. A read of a missing item ignores them: its 404 stands (§13.2.1).
pub fn not_modified(headers: &HeaderMap, version: Version) -> Result<bool, Problem> {
    let conditions = precondition(headers)?;
    let strong = Precondition {
        if_match: conditions.if_match,
        if_none_match: None,
    };
    if !strong.holds(Some(version)) {
        return Err(failed());
    }
    Ok(conditions.if_none_match.is_some_and(|tags| match tags {
        EntityTags::Any => true,
        EntityTags::Versions(versions) => versions.contains(&version),
    }))
}

/// The 412 of a failed precondition.
pub fn failed() -> Problem {
    Problem::new(StatusCode::PRECONDITION_FAILED)
        .detail("the item has changed since the version you named, or its existence does not match")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
        for syntax_error in [
            "7",
            "\"x",
            "\"a b\"",
            "\"1\" \"2\"",
            "W/",
            "",
            " , ",
            "*, \"1\"",
        ] {
            let error = if_match(syntax_error).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{syntax_error:?}");
        }
    }

    #[test]
    fn lists_span_field_lines_and_skip_empty_elements() {
        let mut lines = headers(&[(header::IF_NONE_MATCH, "\"1\"")]);
        lines.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"7\""));
        assert!(
            !precondition(&lines).unwrap().holds(Some(Version(7))),
            "a second field line is part of the list"
        );
        let sparse = if_match("\"1\", , \"2\",").unwrap();
        assert_eq!(
            sparse.if_match,
            Some(EntityTags::Versions(vec![Version(1), Version(2)]))
        );
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
        let stale = headers(&[(header::IF_MATCH, "\"2\"")]);
        assert_eq!(
            not_modified(&stale, Version(3)).unwrap_err().status(),
            StatusCode::PRECONDITION_FAILED,
            "If-Match applies to reads too"
        );
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
