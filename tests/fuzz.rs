//! Property tests of the OCI reference parser (cargo-fuzz needs a nightly
//! compiler; proptest runs on stable): any text is a reference that
//! displays as exactly that text and parses back equal, or an error that
//! names the input; built references always parse to their parts.
//!
//! 256 cases per property in a normal run; `PROPTEST_CASES=N` runs N. The
//! state file loader and the shim reply decoder have theirs in the library
//! (`cargo test --lib fuzz`).

use chainctl_core::{ChartSource, ErrorKind, OciReference};
use proptest::prelude::*;

fn check(input: &str) -> Result<(), TestCaseError> {
    match OciReference::parse(input) {
        Ok(reference) => {
            prop_assert_eq!(reference.to_string(), input);
            prop_assert_eq!(OciReference::parse(input).unwrap(), reference.clone());
            prop_assert!(reference.repository().ends_with(reference.chart_name()));
            prop_assert!(!reference.registry().is_empty());
        }
        Err(err) => {
            prop_assert_eq!(err.kind(), ErrorKind::InvalidInput);
            let message = err.to_string();
            prop_assert!(message.contains("invalid OCI reference"), "{}", message);
            prop_assert!(message.len() > "invalid OCI reference".len() + input.len());
        }
    }
    // With a version or constraint on top: a source or an error, never a panic.
    let _ = ChartSource::oci(input, Some("^1.2"));
    Ok(())
}

/// Characters references are made of, and some they must not hold.
const ALPHABET: &str = "[a-zA-Z0-9._:/@+\\[\\]\\-_ %#?é\u{0}]";

fn name_component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}([._-][a-z0-9]{1,4}){0,2}"
}

fn built_reference()
-> impl Strategy<Value = (String, String, String, Option<String>, Option<String>)> {
    let host = prop_oneof![
        "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z]{2,5}){0,2}",
        Just("localhost".to_string()),
        Just("127.0.0.1".to_string()),
        Just("[::1]".to_string()),
    ];
    let registry = (host, proptest::option::of(1u16..)).prop_map(|(h, port)| match port {
        Some(p) => format!("{h}:{p}"),
        None => h,
    });
    (
        registry,
        prop::collection::vec(name_component(), 1..4).prop_map(|parts| parts.join("/")),
        proptest::option::of("[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,30}"),
        proptest::option::of("[0-9a-f]{64}").prop_map(|d| d.map(|d| format!("sha256:{d}"))),
    )
        .prop_map(|(registry, repository, tag, digest)| {
            let mut text = format!("oci://{registry}/{repository}");
            if let Some(tag) = &tag {
                text.push_str(&format!(":{tag}"));
            }
            if let Some(digest) = &digest {
                text.push_str(&format!("@{digest}"));
            }
            (text, registry, repository, tag, digest)
        })
}

proptest! {
    #[test]
    fn any_text_is_a_reference_or_an_error(input in ".{0,120}") {
        check(&input)?;
    }

    #[test]
    fn reference_like_text_is_a_reference_or_an_error(
        tail in proptest::string::string_regex(&format!("{ALPHABET}{{0,80}}")).unwrap()
    ) {
        check(&format!("oci://{tail}"))?;
    }

    #[test]
    fn built_references_parse_to_their_parts(
        (text, registry, repository, tag, digest) in built_reference()
    ) {
        let reference = OciReference::parse(&text);
        prop_assert!(reference.is_ok(), "{}: {:?}", text, reference.err());
        let reference = reference.unwrap();
        prop_assert_eq!(reference.registry(), registry);
        prop_assert_eq!(reference.repository(), repository);
        prop_assert_eq!(reference.tag(), tag.as_deref());
        prop_assert_eq!(reference.digest(), digest.as_deref());
        check(&text)?;
    }

    #[test]
    fn one_changed_character_of_a_reference_is_a_reference_or_an_error(
        (text, ..) in built_reference(),
        at in any::<usize>(),
        with in proptest::string::string_regex(ALPHABET).unwrap(),
    ) {
        let mut chars: Vec<char> = text.chars().collect();
        let i = at % chars.len();
        chars.splice(i..=i, with.chars());
        check(&chars.into_iter().collect::<String>())?;
    }
}
