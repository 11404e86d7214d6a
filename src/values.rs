//! Helm values: `-f` files, `--set` / `--set-string` expressions, and the way
//! Helm merges them.
//!
//! The policy lives here, in Rust; the Go shim receives one finished map.
//! Everything follows Helm v3 (`pkg/cli/values` and `pkg/strvals`) so the same
//! flags produce the same release, with two differences: malformed input that
//! Helm silently accepts or turns into a panic message (`a[0]` without a value,
//! a lone `]` in a key, text after a `{...}` list, a scalar used as a map) is
//! rejected here with a message that says what to write instead.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

use crate::error::{Error, Result};

/// Helm's limit on list indexes in `--set` (`strvals.MaxIndex`).
const MAX_INDEX: usize = 65536;

/// Helm's limit on dotted nesting in a `--set` key (`strvals.MaxNestedNameLevel`).
const MAX_NESTING: usize = 30;

/// Builds the user-supplied values the way Helm's `MergeValues` does: values
/// files in order, then `maps` (from the library API), then each `--set`, then
/// each `--set-string`. Later sources win.
pub(crate) fn compose_values(
    files: &[PathBuf],
    maps: &[Map<String, Value>],
    set: &[String],
    set_string: &[String],
) -> Result<Map<String, Value>> {
    let mut values = Map::new();
    for file in files {
        merge_into(&mut values, load_values_file(file)?);
    }
    for map in maps {
        merge_into(&mut values, map.clone());
    }
    for expr in set {
        parse_set(expr, &mut values, false)?;
    }
    for expr in set_string {
        parse_set(expr, &mut values, true)?;
    }
    Ok(values)
}

/// Loads one values file: YAML whose top level is a mapping with string keys.
/// An empty file (or one holding only comments) gives an empty map.
pub(crate) fn load_values_file(path: &Path) -> Result<Map<String, Value>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|err| read_error(path, &err))?;
    let mut doc: Yaml = serde_yaml_ng::from_str(&text).map_err(|err| {
        Error::invalid(format!("values file \"{shown}\" is not valid YAML: {err}"))
    })?;
    doc.apply_merge().map_err(|err| {
        Error::invalid(format!(
            "values file \"{shown}\": cannot apply a '<<' merge key: {err}"
        ))
    })?;
    let in_file = |detail: String| Error::invalid(format!("values file \"{shown}\": {detail}"));
    match untag(doc) {
        Yaml::Null => Ok(Map::new()),
        Yaml::Mapping(mapping) => mapping_to_json(mapping, "").map_err(in_file),
        other => Err(in_file(format!(
            "the top level is {}, but Helm values must be a mapping of keys to values (key: value)",
            yaml_kind(&other)
        ))),
    }
}

fn read_error(path: &Path, err: &io::Error) -> Error {
    let shown = path.display();
    Error::invalid(match err.kind() {
        io::ErrorKind::NotFound => {
            format!("values file \"{shown}\" was not found: check the path given to -f/--values")
        }
        io::ErrorKind::InvalidData => {
            format!("values file \"{shown}\" is not UTF-8 text: save it as UTF-8 YAML")
        }
        _ => format!("cannot read values file \"{shown}\": {err}"),
    })
}

fn untag(value: Yaml) -> Yaml {
    match value {
        Yaml::Tagged(tagged) => untag(tagged.value),
        other => other,
    }
}

/// Converts YAML to JSON; `at` is the key path so far, for messages.
fn yaml_to_json(value: Yaml, at: &str) -> Result<Value, String> {
    Ok(match untag(value) {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => yaml_number(&n, at)?,
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => Value::Object(mapping_to_json(mapping, at)?),
        Yaml::Tagged(_) => unreachable!("untag removes every tag"),
    })
}

fn yaml_number(n: &serde_yaml_ng::Number, at: &str) -> Result<Value, String> {
    if let Some(i) = n.as_i64() {
        return Ok(Value::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Ok(Value::from(u));
    }
    n.as_f64()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| {
            format!(
                "the value at \"{at}\" is {n}, which JSON cannot hold: quote it to pass a string"
            )
        })
}

fn mapping_to_json(
    mapping: serde_yaml_ng::Mapping,
    at: &str,
) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (key, value) in mapping {
        let key = match untag(key) {
            Yaml::String(key) => key,
            other => return Err(non_string_key(&other, at)),
        };
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        let value = yaml_to_json(value, &path)?;
        map.insert(key, value);
    }
    Ok(map)
}

fn non_string_key(key: &Yaml, at: &str) -> String {
    let shown = match key {
        Yaml::Null => "null".to_owned(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        other => {
            return format!(
                "{} is used as a key {}: keys must be strings",
                yaml_kind(other),
                where_key(at)
            );
        }
    };
    format!(
        "the key {shown} {} is not a string: quote it (\"{shown}\": ...) so it is a string key",
        where_key(at)
    )
}

fn where_key(at: &str) -> String {
    if at.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("under \"{at}\"")
    }
}

fn yaml_kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// Merges `overlay` into `base` as Helm merges user values: where both hold a
/// map the maps merge recursively; any other overlay value (null included)
/// replaces what `base` had.
pub(crate) fn merge_into(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(overlay_inner)) => {
                merge_into(inner, overlay_inner)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies one `--set` (or, with `force_string`, `--set-string`) expression to
/// `map`, with Helm's `strvals` grammar: `a.b=1,list[0]=x,tags={a,b}`.
///
/// `key=null` stores a null, which Helm later reads as "delete this key from
/// the chart's defaults".
pub(crate) fn parse_set(
    expr: &str,
    map: &mut Map<String, Value>,
    force_string: bool,
) -> Result<()> {
    let flag = if force_string {
        "--set-string"
    } else {
        "--set"
    };
    SetParser::new(expr, force_string)
        .apply_all(map)
        .map_err(|detail| Error::invalid(format!("invalid {flag} expression \"{expr}\": {detail}")))
}

/// One step of a key path: `a.b[2]` is `[Key("a"), Key("b"), Index(2)]`.
#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Characters that end a key name.
const KEY_END: &[char] = &['=', '[', ',', '.', ']'];

/// A cursor over one expression. Errors are bare details; [`parse_set`] adds
/// the flag and the expression.
struct SetParser {
    chars: Vec<char>,
    pos: usize,
    force_string: bool,
}

impl SetParser {
    fn new(expr: &str, force_string: bool) -> Self {
        SetParser {
            chars: expr.chars().collect(),
            pos: 0,
            force_string,
        }
    }

    fn apply_all(&mut self, map: &mut Map<String, Value>) -> Result<(), String> {
        while self.pos < self.chars.len() {
            let path = self.key_path()?;
            let value = self.value()?;
            assign(map, &path, value)?;
        }
        Ok(())
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    /// Reads up to the first unescaped char in `stops`, which is consumed and
    /// returned (`None` at the end). A backslash makes the next char literal.
    fn read_until(&mut self, stops: &[char]) -> Result<(String, Option<char>), String> {
        let mut out = String::new();
        while let Some(c) = self.next_char() {
            if stops.contains(&c) {
                return Ok((out, Some(c)));
            }
            if c == '\\' {
                let escaped = self.next_char().ok_or(
                    "it ends with a lone '\\': write \\\\ for a literal backslash".to_owned(),
                )?;
                out.push(escaped);
            } else {
                out.push(c);
            }
        }
        Ok((out, None))
    }

    /// Reads `name(.name|[index])*=`, consuming the `=`.
    fn key_path(&mut self) -> Result<Vec<Segment>, String> {
        let start = self.pos;
        let mut path = Vec::new();
        let mut dots = 0;
        loop {
            let (name, mut stop) = self.read_until(KEY_END)?;
            if name.is_empty() {
                return Err(self.empty_key(start, stop));
            }
            path.push(Segment::Key(name));
            while stop == Some('[') {
                path.push(Segment::Index(self.index()?));
                stop = self.next_char();
                if let Some(c) = stop.filter(|c| !matches!(c, '[' | '.' | '=' | ',')) {
                    let key = self.text(start, self.pos - 1);
                    return Err(format!(
                        "unexpected '{c}' after \"{key}\": an index must be followed by '.', '[' or '='"
                    ));
                }
            }
            match stop {
                Some('=') => return Ok(path),
                Some('.') => {
                    dots += 1;
                    if dots > MAX_NESTING {
                        return Err(format!(
                            "the key nests deeper than {MAX_NESTING} levels, Helm's limit"
                        ));
                    }
                }
                Some(']') => {
                    let key = self.text(start, self.pos);
                    return Err(format!(
                        "unmatched ']' in \"{key}\": open the index with '[' or write \\] for a literal ']'"
                    ));
                }
                _ => {
                    let end = self.pos - stop.is_some() as usize;
                    let key = self.text(start, end);
                    return Err(format!("key \"{key}\" has no value: write {key}=VALUE"));
                }
            }
        }
    }

    fn empty_key(&self, start: usize, stop: Option<char>) -> String {
        match stop {
            Some(',') if start + 1 == self.pos => {
                "empty item between commas: remove the extra ','".to_owned()
            }
            Some('=') if start + 1 == self.pos => {
                "missing key before '=': write key=VALUE".to_owned()
            }
            Some('[') if start + 1 == self.pos => {
                "missing list name before '[': write name[0]=VALUE".to_owned()
            }
            _ => {
                let key = self.text(start, self.pos);
                format!(
                    "empty key name in \"{key}\": every part of a dotted key needs a name \
                     (write \\. for a literal dot)"
                )
            }
        }
    }

    /// Reads the index after a consumed `[`, through the `]`.
    fn index(&mut self) -> Result<usize, String> {
        let start = self.pos;
        let (text, stop) = self.read_until(&[']', ',', '='])?;
        if stop != Some(']') {
            let seen = self.text(start - 1, self.pos - stop.is_some() as usize);
            return Err(format!("unterminated index \"{seen}\": close it with ']'"));
        }
        parse_index(&text)
    }

    /// Reads a value after `=`, through the `,` that ends it.
    fn value(&mut self) -> Result<Value, String> {
        if self.chars.get(self.pos) == Some(&'{') {
            self.pos += 1;
            return self.list();
        }
        let (text, _) = self.read_until(&[','])?;
        Ok(self.typed(text))
    }

    /// Reads `x,y,z}` after a consumed `{`. Like Helm, `{}` is a list holding
    /// one empty string.
    fn list(&mut self) -> Result<Value, String> {
        let open = self.pos - 1;
        let mut items = Vec::new();
        loop {
            let (text, stop) = self.read_until(&[',', '}'])?;
            match stop {
                Some(',') => items.push(self.typed(text)),
                Some(_) => {
                    items.push(self.typed(text));
                    break;
                }
                None => {
                    let seen = self.text(open, self.pos);
                    return Err(format!(
                        "the list \"{seen}\" is not terminated: close it with '}}'"
                    ));
                }
            }
        }
        match self.next_char() {
            None | Some(',') => Ok(Value::Array(items)),
            Some(c) => Err(format!(
                "unexpected '{c}' after the closing '}}' of a list: separate items with ','"
            )),
        }
    }

    fn typed(&self, text: String) -> Value {
        if self.force_string {
            Value::String(text)
        } else {
            typed_value(text)
        }
    }
}

/// Helm's `typedVal`: booleans and null case-insensitively, then base-10
/// integers, except that a leading zero (`007`) keeps the text a string.
fn typed_value(text: String) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if text.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if text == "0" {
        return Value::from(0);
    }
    if !text.starts_with('0')
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::from(i);
    }
    Value::String(text)
}

fn parse_index(text: &str) -> Result<usize, String> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if text.strip_prefix('-').is_some_and(all_digits) {
        return Err(format!("negative index [{text}]: list indexes start at 0"));
    }
    if !all_digits(text) {
        return Err(format!(
            "index [{text}] is not a number: write a list index such as [0]"
        ));
    }
    match text.parse::<usize>() {
        Ok(i) if i <= MAX_INDEX => Ok(i),
        _ => Err(format!(
            "index [{text}] is too large: Helm allows at most {MAX_INDEX}"
        )),
    }
}

/// Stores `value` at `path`, creating maps and lists on the way (lists are
/// padded with nulls). A null already on the path counts as absent.
fn assign(map: &mut Map<String, Value>, path: &[Segment], value: Value) -> Result<(), String> {
    let Some((Segment::Key(first), rest)) = path.split_first() else {
        unreachable!("a key path starts with a key");
    };
    let slot = map.entry(first.clone()).or_insert(Value::Null);
    assign_into(slot, rest, value, first.clone())
}

fn assign_into(slot: &mut Value, path: &[Segment], value: Value, at: String) -> Result<(), String> {
    let Some((segment, rest)) = path.split_first() else {
        *slot = value;
        return Ok(());
    };
    match segment {
        Segment::Key(key) => {
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(map) = slot else {
                return Err(conflict(&at, slot, "a map"));
            };
            let child = map.entry(key.clone()).or_insert(Value::Null);
            assign_into(child, rest, value, format!("{at}.{key}"))
        }
        Segment::Index(index) => {
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(list) = slot else {
                return Err(conflict(&at, slot, "a list"));
            };
            if list.len() <= *index {
                list.resize(index + 1, Value::Null);
            }
            assign_into(&mut list[*index], rest, value, format!("{at}[{index}]"))
        }
    }
}

fn conflict(at: &str, found: &Value, wanted: &str) -> String {
    format!(
        "\"{at}\" already holds {}, not {wanted}: set \"{at}\" as a whole, or drop the value \
         that set it earlier",
        json_kind(found)
    )
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(expr: &str) -> Result<Value> {
        let mut map = Map::new();
        parse_set(expr, &mut map, false)?;
        Ok(Value::Object(map))
    }

    fn set_string(expr: &str) -> Result<Value> {
        let mut map = Map::new();
        parse_set(expr, &mut map, true)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn set_valid_expressions() {
        let cases: &[(&str, Value)] = &[
            ("", json!({})),
            ("name=value", json!({"name": "value"})),
            ("a=1,b=2", json!({"a": 1, "b": 2})),
            ("a=1,b=2,", json!({"a": 1, "b": 2})),
            ("a.b.c=1", json!({"a": {"b": {"c": 1}}})),
            ("a.b=1,a.c=x", json!({"a": {"b": 1, "c": "x"}})),
            ("key=", json!({"key": ""})),
            ("a=,b=2", json!({"a": "", "b": 2})),
            (
                "t=true,f=false,T=TRUE",
                json!({"t": true, "f": false, "T": true}),
            ),
            ("n=null,N=Null", json!({"n": null, "N": null})),
            ("zero=0", json!({"zero": 0})),
            ("neg=-42,plus=+7", json!({"neg": -42, "plus": 7})),
            (
                "big=9223372036854775807",
                json!({"big": 9223372036854775807_i64}),
            ),
            (
                "over=9223372036854775808",
                json!({"over": "9223372036854775808"}),
            ),
            ("lead=007", json!({"lead": "007"})),
            ("f=1.5", json!({"f": "1.5"})),
            ("s=one two", json!({"s": "one two"})),
            ("a=b=c", json!({"a": "b=c"})),
            (r"a=one\,two", json!({"a": "one,two"})),
            (r"a\.b=1", json!({"a.b": 1})),
            (r"a\=b=1", json!({"a=b": 1})),
            (r"a=back\\slash", json!({"a": "back\\slash"})),
            (r"a\[0\]=1", json!({"a[0]": 1})),
            ("l={x,y,z}", json!({"l": ["x", "y", "z"]})),
            ("l={1,true,null,x}", json!({"l": [1, true, null, "x"]})),
            (r"l={a\,b,c}", json!({"l": ["a,b", "c"]})),
            ("l={},m=1", json!({"l": [""], "m": 1})),
            ("a.l={x},b=2", json!({"a": {"l": ["x"]}, "b": 2})),
            ("a[0]=x", json!({"a": ["x"]})),
            ("a[2]=x", json!({"a": [null, null, "x"]})),
            ("a[0]=x,a[1]=y", json!({"a": ["x", "y"]})),
            ("a[1].b=y", json!({"a": [null, {"b": "y"}]})),
            ("a[0].b=1,a[0].c=2", json!({"a": [{"b": 1, "c": 2}]})),
            ("a[1][1]=1", json!({"a": [null, [null, 1]]})),
            ("a[0][0].b=x", json!({"a": [[{"b": "x"}]]})),
            ("a[0]=", json!({"a": [""]})),
            ("a[0]={x,y}", json!({"a": [["x", "y"]]})),
            ("a.b[0].c=1", json!({"a": {"b": [{"c": 1}]}})),
            ("a=1,a=2", json!({"a": 2})),
            ("a.b=1,a=2", json!({"a": 2})),
            ("ünï=çödé", json!({"ünï": "çödé"})),
        ];
        for (expr, want) in cases {
            let got = set(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
            assert_eq!(&got, want, "{expr}");
        }
    }

    #[test]
    fn set_accepts_helms_largest_index() {
        let got = set("a[65536]=x").unwrap();
        let list = got["a"].as_array().unwrap();
        assert_eq!(list.len(), MAX_INDEX + 1);
        assert!(list[..MAX_INDEX].iter().all(Value::is_null));
        assert_eq!(list[MAX_INDEX], "x");
    }

    #[test]
    fn set_invalid_expressions() {
        let cases: &[(&str, &str)] = &[
            ("foo", "key \"foo\" has no value: write foo=VALUE"),
            ("foo,bar=1", "key \"foo\" has no value: write foo=VALUE"),
            ("a.b", "key \"a.b\" has no value: write a.b=VALUE"),
            ("a[0]", "key \"a[0]\" has no value: write a[0]=VALUE"),
            ("a=1,b", "key \"b\" has no value"),
            ("=1", "missing key before '='"),
            ("a=1,,b=2", "empty item between commas"),
            (",a=1", "empty item between commas"),
            ("a..b=1", "empty key name in \"a..\""),
            ("a.=1", "empty key name in \"a.=\""),
            (".a=1", "empty key name in \".\""),
            ("[0]=1", "missing list name before '[': write name[0]=VALUE"),
            (
                "l={a,b",
                "the list \"{a,b\" is not terminated: close it with '}'",
            ),
            ("l={a}x", "unexpected 'x' after the closing '}' of a list"),
            ("a[x]=1", "index [x] is not a number"),
            ("a[]=1", "index [] is not a number"),
            ("a[-1]=1", "negative index [-1]"),
            (
                "a[65537]=1",
                "index [65537] is too large: Helm allows at most 65536",
            ),
            ("a[99999999999999999999999]=1", "is too large"),
            ("a[0=1", "unterminated index \"[0\": close it with ']'"),
            ("a[0", "unterminated index \"[0\""),
            ("a]=1", "unmatched ']' in \"a]\""),
            ("a.b]=1", "unmatched ']'"),
            ("a[0]x=1", "unexpected 'x' after \"a[0]\""),
            ("a=x\\", "ends with a lone '\\'"),
            ("a=1,a.b=2", "\"a\" already holds a number, not a map"),
            ("a=x,a[0]=y", "\"a\" already holds a string, not a list"),
            (
                "a[0]=x,a[0].b=y",
                "\"a[0]\" already holds a string, not a map",
            ),
            ("a.b=1,a[0]=2", "\"a\" already holds a map, not a list"),
        ];
        for (expr, want) in cases {
            let err = set(expr).expect_err(expr);
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{expr}");
            let msg = err.to_string();
            let prefix = format!("invalid --set expression \"{expr}\": ");
            assert!(msg.starts_with(&prefix), "{expr}: {msg}");
            assert!(msg.contains(want), "{expr}: {msg}\n  wanted: {want}");
        }
    }

    #[test]
    fn set_nesting_limit() {
        let ok = format!("{}=1", vec!["k"; MAX_NESTING + 1].join("."));
        assert!(set(&ok).is_ok());
        let deep = format!("{}=1", vec!["k"; MAX_NESTING + 2].join("."));
        let msg = set(&deep).unwrap_err().to_string();
        assert!(msg.contains("deeper than 30 levels"), "{msg}");
    }

    #[test]
    fn set_string_keeps_everything_a_string() {
        let got = set_string("a=1,b=true,c=null,d=007,l={1,false}").unwrap();
        assert_eq!(
            got,
            json!({"a": "1", "b": "true", "c": "null", "d": "007", "l": ["1", "false"]})
        );
        let msg = set_string("foo").unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid --set-string expression \"foo\": "),
            "{msg}"
        );
    }

    #[test]
    fn set_merges_into_existing_values() {
        let mut map = json!({"outer": {"keep": 1, "over": "old"}, "list": [1, 2, 3], "gone": null})
            .as_object()
            .cloned()
            .unwrap();
        parse_set(
            "outer.over=new,outer.add=2,list[1]=x,gone.a=1",
            &mut map,
            false,
        )
        .unwrap();
        assert_eq!(
            Value::Object(map),
            json!({"outer": {"keep": 1, "over": "new", "add": 2}, "list": [1, "x", 3], "gone": {"a": 1}})
        );
    }

    #[test]
    fn merge_is_recursive_and_later_wins() {
        let mut base = json!({"a": {"x": 1, "y": {"deep": 1}}, "b": [1], "c": {"m": 1}, "d": 1})
            .as_object()
            .cloned()
            .unwrap();
        let overlay = json!({"a": {"y": {"more": 2}, "z": 3}, "b": [2], "c": "scalar", "d": null})
            .as_object()
            .cloned()
            .unwrap();
        merge_into(&mut base, overlay);
        assert_eq!(
            Value::Object(base),
            json!({"a": {"x": 1, "y": {"deep": 1, "more": 2}, "z": 3}, "b": [2], "c": "scalar", "d": null})
        );
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn values_file_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.yaml");
        let msg = load_values_file(&path).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("was not found"), "{msg}");
    }

    #[test]
    fn values_file_bad_yaml_names_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bad.yaml", "a: 1\nb: [unclosed\n");
        let msg = load_values_file(&path).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("is not valid YAML"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn values_file_top_level_must_be_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "list.yaml", "- a\n- b\n");
        let msg = load_values_file(&path).unwrap_err().to_string();
        assert!(msg.contains("the top level is a list"), "{msg}");
        let path = write(&dir, "scalar.yaml", "hello\n");
        let msg = load_values_file(&path).unwrap_err().to_string();
        assert!(msg.contains("the top level is a string"), "{msg}");
    }

    #[test]
    fn values_file_empty_is_an_empty_map() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_values_file(&write(&dir, "e.yaml", ""))
                .unwrap()
                .is_empty()
        );
        let comments = write(&dir, "c.yaml", "# nothing here\n");
        assert!(load_values_file(&comments).unwrap().is_empty());
    }

    #[test]
    fn values_file_rejects_non_string_keys_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "k.yaml", "service:\n  ports:\n    80: http\n");
        let msg = load_values_file(&path).unwrap_err().to_string();
        assert!(
            msg.contains("the key 80 under \"service.ports\" is not a string"),
            "{msg}"
        );
        let path = write(&dir, "top.yaml", "true: x\n");
        let msg = load_values_file(&path).unwrap_err().to_string();
        assert!(msg.contains("the key true at the top level"), "{msg}");
    }

    #[test]
    fn values_file_types_and_merge_keys() {
        let dir = tempfile::tempdir().unwrap();
        let text = "i: 3\nf: 1.5\nbig: 18446744073709551615\ns: '3'\nb: yes\nn: ~\n\
                    base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\nlist: [1, {k: v}]\n";
        let got = Value::Object(load_values_file(&write(&dir, "t.yaml", text)).unwrap());
        assert!(got["i"].is_i64() && got["f"].is_f64() && got["big"].is_u64());
        assert_eq!(
            got,
            json!({
                "i": 3, "f": 1.5, "big": 18446744073709551615_u64, "s": "3", "b": "yes", "n": null,
                "base": {"x": 1}, "derived": {"x": 1, "y": 2}, "list": [1, {"k": "v"}]
            })
        );
        let nan = write(&dir, "nan.yaml", "a:\n  b: .nan\n");
        let msg = load_values_file(&nan).unwrap_err().to_string();
        assert!(
            msg.contains("the value at \"a.b\" is .nan, which JSON cannot hold"),
            "{msg}"
        );
    }

    #[test]
    fn compose_follows_helm_order() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(
            &dir,
            "1.yaml",
            "a: {x: 1, y: 1}\nimage: {tag: one}\nlist: [1, 2]\n",
        );
        let second = write(&dir, "2.yaml", "a: {y: 2}\nimage: {repo: r}\n");
        let api = json!({"a": {"z": 3}, "image": {"tag": "api"}})
            .as_object()
            .cloned()
            .unwrap();
        let got = compose_values(
            &[first, second],
            &[api],
            &[
                "image.tag=set,replicas=3".to_owned(),
                "replicas=4".to_owned(),
            ],
            &["replicas=5".to_owned()],
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({
                "a": {"x": 1, "y": 2, "z": 3},
                "image": {"tag": "set", "repo": "r"},
                "list": [1, 2],
                "replicas": "5"
            })
        );
    }
}
