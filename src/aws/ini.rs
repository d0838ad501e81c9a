//! The AWS shared credentials and config files, read as botocore reads them (Python's
//! `RawConfigParser`): lines ending in `\n`, `\r\n` or `\r`; `[section]` headers, the name
//! everything between the first `[` and the last `]` as written (spaces kept, text after the
//! `]` ignored), no name twice; `[DEFAULT]`'s keys given to every section that does not set
//! them; `key = value` or `key: value` with the key lower-cased and both sides trimmed;
//! whole-line comments (`#`, `;`, however indented) only, so a `#` inside a value is part of it;
//! an indented line continues the value above, blank lines inside it kept, which is how nested
//! sections (`s3 =` and indented `key = value` lines) are written. Garbage is an error naming
//! the line, never a panic.

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::error::AwsError;

/// The largest file read: real ones are a few kilobytes.
pub const MAX_FILE_SIZE: usize = crate::ask::MAX_FILE_SIZE;

/// A parsed file: its sections in order, each with its keys in order, and indexed: a
/// megabyte of sections or keys is read, and looked up, in linear time (a search of the
/// entries for each key made reading one quadratic, and it is read at every replay).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ini {
    sections: Vec<Section>,
    /// Where each section is (a name is given once).
    by_name: HashMap<String, usize>,
    /// The keys of `[DEFAULT]`, which every section has unless it sets them itself.
    defaults: Section,
}

/// configparser's section of defaults.
const DEFAULT_SECTION: &str = "DEFAULT";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Section {
    name: String,
    /// Values are wiped when dropped: they are keys and tokens.
    entries: Vec<(String, Zeroizing<String>)>,
    /// Where each key is in `entries`.
    index: HashMap<String, usize>,
}

impl Ini {
    /// Parses the text of a file.
    pub fn parse(text: &str) -> Result<Ini, AwsError> {
        if text.len() > MAX_FILE_SIZE {
            return Err(AwsError::MalformedFile {
                line: 0,
                rule: "the file is larger than 1 MiB",
            });
        }
        let mut ini = Ini::default();
        // Where keys go: no section yet, a section, or `[DEFAULT]`.
        let mut current: Option<Option<usize>> = None;
        // The indentation of the last key line: a line indented deeper continues its value.
        let mut key_indent: Option<usize> = None;
        let mut blank_lines = 0;
        // Lines end as Python's text files end them: at `\n`, `\r\n` or a lone `\r`.
        let lines = text
            .split('\n')
            .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'));
        for (index, line) in lines.enumerate() {
            let line_number = index + 1;
            let trimmed = line.trim();
            let malformed = |rule| AwsError::MalformedFile {
                line: line_number,
                rule,
            };
            if trimmed.is_empty() {
                // Part of the value above if a continuation line follows (configparser keeps
                // blank lines inside a value, not after it).
                blank_lines += 1;
                continue;
            }
            // In characters, as Python counts it.
            let indent = line.chars().count() - line.trim_start().chars().count();
            // A comment, at any indentation, neither continues a value nor ends one.
            if trimmed.starts_with(['#', ';']) {
                continue;
            }
            let blank_lines_before = std::mem::take(&mut blank_lines);
            if key_indent.is_some_and(|key| indent > key) {
                let entry = current
                    .and_then(|section| ini.section_mut(section))
                    .and_then(|s| s.entries.last_mut())
                    .ok_or(malformed("a continuation line with no value to continue"))?;
                entry
                    .1
                    .extend(std::iter::repeat_n('\n', blank_lines_before + 1));
                entry.1.push_str(trimmed);
                continue;
            }
            // `[name]`, the name up to the last `]`; a line that only starts with `[` is a key.
            let header = trimmed
                .strip_prefix('[')
                .and_then(|header| header.get(..header.rfind(']')?))
                .filter(|name| !name.is_empty());
            if let Some(name) = header {
                key_indent = None;
                if name == DEFAULT_SECTION {
                    current = Some(None);
                    continue;
                }
                // configparser refuses a section twice.
                if ini
                    .by_name
                    .insert(name.to_owned(), ini.sections.len())
                    .is_some()
                {
                    return Err(malformed("a section given twice"));
                }
                current = Some(Some(ini.sections.len()));
                ini.sections.push(Section {
                    name: name.to_owned(),
                    ..Section::default()
                });
                continue;
            }
            let split = trimmed.find(['=', ':']).ok_or(malformed(
                "a line that is neither a section, a key nor a comment",
            ))?;
            let (key, value) = (trimmed.get(..split), trimmed.get(split + 1..));
            let (Some(key), Some(value)) = (key, value) else {
                return Err(malformed(
                    "a line that is neither a section, a key nor a comment",
                ));
            };
            let key = key.trim().to_ascii_lowercase();
            if key.is_empty() {
                return Err(malformed("an empty key"));
            }
            let section = current
                .and_then(|section| ini.section_mut(section))
                .ok_or(malformed("a key before any section"))?;
            // configparser refuses a key twice in one section.
            if section
                .index
                .insert(key.clone(), section.entries.len())
                .is_some()
            {
                return Err(malformed("a key given twice in one section"));
            }
            section
                .entries
                .push((key, Zeroizing::new(value.trim().to_owned())));
            key_indent = Some(indent);
        }
        Ok(ini)
    }

    /// A section by its place, or `[DEFAULT]`'s keys (`None`).
    fn section_mut(&mut self, at: Option<usize>) -> Option<&mut Section> {
        match at {
            Some(at) => self.sections.get_mut(at),
            None => Some(&mut self.defaults),
        }
    }

    /// The value of `key` in the section `section`, or `[DEFAULT]`'s, as configparser gives a
    /// section the defaults' keys it does not set itself.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        let section = self.section(section)?;
        let own = section
            .index
            .get(key)
            .and_then(|at| section.entries.get(*at));
        let default = || {
            let at = self.defaults.index.get(key)?;
            self.defaults.entries.get(*at)
        };
        own.or_else(default).map(|(_, value)| value.as_str())
    }

    /// Whether the file has a section of that name.
    pub fn has_section(&self, section: &str) -> bool {
        self.by_name.contains_key(section)
    }

    /// The keys and values of the section `section`, in order, then those of `[DEFAULT]` it
    /// does not set itself.
    pub fn entries(&self, section: &str) -> impl Iterator<Item = (&str, &str)> {
        self.section(section).into_iter().flat_map(|section| {
            let own = section.entries.iter();
            let defaults = self
                .defaults
                .entries
                .iter()
                .filter(|(key, _)| !section.index.contains_key(key));
            own.chain(defaults).map(|(k, v)| (k.as_str(), v.as_str()))
        })
    }

    fn section(&self, name: &str) -> Option<&Section> {
        self.sections.get(*self.by_name.get(name)?)
    }

    /// The section names, in order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }
}

/// Appends distinct short keys (`0=`, `1=`, ...) to `text` until it nearly reaches
/// [`MAX_FILE_SIZE`]; how many. The shape that made reading a file quadratic.
#[cfg(test)]
pub(crate) fn fill_with_short_keys(text: &mut String) -> usize {
    let mut count = 0;
    while text.len() < MAX_FILE_SIZE - 16 {
        text.push_str(&format!("{count:x}=\n"));
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_not_shown_and_are_wiped() {
        let ini = Ini::parse("[default]\naws_secret_access_key = S3CRET\n").unwrap();
        assert_eq!(ini.get("default", "aws_secret_access_key"), Some("S3CRET"));
        let shown = format!("{ini:?}");
        assert!(
            !shown.contains("S3CRET") && shown.contains("aws_secret_access_key"),
            "{shown}"
        );
    }

    #[test]
    fn a_megabyte_of_keys_parses_in_linear_time_and_a_repeat_is_still_found() {
        // About 150,000 distinct short keys in one section: searched for one by one they cost
        // about 10^10 comparisons. The watchdog only turns that hang into a failure.
        let mut text = String::from("[default]\n");
        let count = fill_with_short_keys(&mut text);
        let parse = |text: String| {
            crate::test_support::finishes_within(std::time::Duration::from_secs(30), move || {
                Ini::parse(&text).map(|ini| ini.entries("default").count())
            })
        };
        assert_eq!(parse(text.clone()).expect("a valid file"), count);
        // The first key again, last: still refused, on its line.
        text.push_str("0=\n");
        assert!(matches!(
            parse(text),
            Err(AwsError::MalformedFile {
                rule: "a key given twice in one section",
                ..
            })
        ));
        let ini = Ini::parse("[a]\nk=1\n[b]\nk=2\n").expect("a valid file");
        assert_eq!(
            (ini.get("a", "k"), ini.get("b", "k")),
            (Some("1"), Some("2"))
        );
        assert_eq!(ini.entries("a").collect::<Vec<_>>(), [("k", "1")]);
        assert!(ini.has_section("b") && !ini.has_section("c") && ini.get("c", "k").is_none());
    }

    // As Python's RawConfigParser reads them (the peer test `ini_files_read_as_configparser_reads_them`
    // compares random files).
    #[test]
    fn headers_comments_blank_lines_and_repeats_as_configparser_reads_them() {
        let ini = Ini::parse("[a] trailing\nk=1\n[ b ]\nk=2\n[c]]\nk=3\n").unwrap();
        assert_eq!(ini.section_names().collect::<Vec<_>>(), ["a", " b ", "c]"]);
        // An indented comment is skipped, a blank line inside a value kept, a trailing one not.
        let ini = Ini::parse("[a]\nk = v\n  # c\n  x = y\n\n  z\n\n[b]\n  ; c\nk = w\n").unwrap();
        assert_eq!(ini.get("a", "k"), Some("v\nx = y\n\nz"));
        assert_eq!(ini.get("b", "k"), Some("w"));
        // `[DEFAULT]` (twice, even) gives its keys to every section that does not set them,
        // and is no section itself.
        let ini =
            Ini::parse("[DEFAULT]\nregion = d\n[a]\nk=1\n[DEFAULT]\nout = o\n[b]\nregion = b\n")
                .unwrap();
        assert_eq!(ini.section_names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            (ini.get("a", "region"), ini.get("b", "region")),
            (Some("d"), Some("b"))
        );
        assert_eq!(
            ini.entries("b").collect::<Vec<_>>(),
            [("region", "b"), ("out", "o")]
        );
        assert!(!ini.has_section("DEFAULT") && ini.get("c", "region").is_none());
        // Lone carriage returns end lines; a line that only starts with `[` is a key.
        let ini = Ini::parse("[a]\rk = 1\r[x=2\r[]=3\n").unwrap();
        assert_eq!(
            ini.entries("a").collect::<Vec<_>>(),
            [("k", "1"), ("[x", "2"), ("[]", "3")]
        );
        for (text, line) in [("[a]\nk=1\n[b]\n[a]\n", 4), ("[]\n", 1)] {
            assert!(
                matches!(Ini::parse(text), Err(AwsError::MalformedFile { line: got, .. }) if got == line),
                "{text:?}"
            );
        }
    }

    #[test]
    fn values_keep_hashes_and_keys_take_colons() {
        let ini = Ini::parse(
            "[default]\naws_access_key_id = AKID # not a comment\n[profile dev]\nregion: eu-west-1\n",
        )
        .unwrap();
        assert_eq!(
            ini.get("default", "aws_access_key_id"),
            Some("AKID # not a comment")
        );
        assert_eq!(ini.get("profile dev", "region"), Some("eu-west-1"));
    }

    #[test]
    fn as_botocore_reads_them() {
        let text = "# a comment\r\n[default]\r\naws_access_key_id=AKID\r\nAWS_Secret_Access_Key = s#e;c\r\n\r\n[profile dev]\n  region = eu-west-1\n  output = json\ns3 =\n  max_concurrent_requests = 10\n  addressing_style = path\n; another\n[empty]\n";
        let ini = Ini::parse(text).unwrap();
        assert_eq!(ini.get("default", "aws_access_key_id"), Some("AKID"));
        // Keys are lower-cased; no inline comments.
        assert_eq!(ini.get("default", "aws_secret_access_key"), Some("s#e;c"));
        // An indented first key is still a key (nothing to continue).
        assert_eq!(ini.get("profile dev", "region"), Some("eu-west-1"));
        assert_eq!(ini.get("profile dev", "output"), Some("json"));
        assert_eq!(
            ini.get("profile dev", "s3"),
            Some("\nmax_concurrent_requests = 10\naddressing_style = path")
        );
        assert!(ini.has_section("empty"));
        assert_eq!(
            ini.section_names().collect::<Vec<_>>(),
            ["default", "profile dev", "empty"]
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        for (text, line) in [
            ("key = value\n", 1),
            ("[a]\nno delimiter\n", 2),
            ("[a\n", 1),
            ("[a]\nk = 1\nk = 2\n", 3),
            ("[a]\n = value\n", 2),
        ] {
            match Ini::parse(text) {
                Err(AwsError::MalformedFile { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
