//! A `credential_process` line split into its program and arguments as botocore splits it
//! before running it without a shell: with POSIX `shlex.split` rules (no comments), or on
//! Windows with the C runtime's. Nothing in the line is expanded, globbed or piped; a `|`, a
//! `$HOME` or a `#` reaches the program as written.

/// Why a line cannot be split.
pub(crate) type Refusal = &'static str;

/// The program and its arguments, by this platform's rules; never empty.
pub(crate) fn split(line: &str) -> Result<Vec<String>, Refusal> {
    let words = if cfg!(windows) {
        split_windows(line)?
    } else {
        split_posix(line)?
    };
    if words.is_empty() {
        return Err("it names no program");
    }
    Ok(words)
}

/// Python's `shlex.split(line)`: space, tab, carriage return and newline separate words; single
/// quotes keep everything; double quotes keep everything but a backslash before `"` or `\`;
/// outside quotes a backslash keeps the next character, whatever it is; quoted text, even
/// empty, makes a word.
pub fn split_posix(line: &str) -> Result<Vec<String>, Refusal> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word is under way (it may be empty, from `''`).
    let mut in_word = false;
    let mut characters = line.chars();
    while let Some(character) = characters.next() {
        match character {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(characters.next().ok_or("it ends in an escape")?);
                in_word = true;
            }
            '\'' => {
                loop {
                    match characters.next().ok_or("a quote is not closed")? {
                        '\'' => break,
                        other => word.push(other),
                    }
                }
                in_word = true;
            }
            '"' => {
                loop {
                    match characters.next().ok_or("a quote is not closed")? {
                        '"' => break,
                        '\\' => match characters.next().ok_or("a quote is not closed")? {
                            escaped @ ('"' | '\\') => word.push(escaped),
                            other => {
                                word.push('\\');
                                word.push(other);
                            }
                        },
                        other => word.push(other),
                    }
                }
                in_word = true;
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The Windows C runtime's rules, as botocore applies them: space and tab separate words;
/// double quotes are the only quotes; backslashes are literal unless they lead up to a `"`, when
/// each pair is one backslash and an odd one out makes the quote literal.
pub fn split_windows(line: &str) -> Result<Vec<String>, Refusal> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut backslashes = 0_usize;
    let flush_backslashes = |word: &mut String, backslashes: &mut usize| {
        word.extend(std::iter::repeat_n('\\', *backslashes));
        *backslashes = 0;
    };
    for character in line.chars() {
        match character {
            '\\' => {
                backslashes += 1;
                in_word = true;
            }
            '"' => {
                word.extend(std::iter::repeat_n('\\', backslashes / 2));
                let escaped = backslashes % 2 == 1;
                backslashes = 0;
                if escaped {
                    word.push('"');
                } else {
                    quoted = !quoted;
                }
                in_word = true;
            }
            ' ' | '\t' if !quoted => {
                flush_backslashes(&mut word, &mut backslashes);
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            other => {
                flush_backslashes(&mut word, &mut backslashes);
                word.push(other);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("a quote is not closed");
    }
    flush_backslashes(&mut word, &mut backslashes);
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(split: fn(&str) -> Result<Vec<String>, Refusal>, line: &str) -> Vec<String> {
        split(line).unwrap_or_else(|refusal| panic!("{line:?}: {refusal}"))
    }

    // What Python's shlex.split and botocore's Windows splitter give (the peer test
    // `command_lines_split_as_botocore_splits_them` asks them for random lines).
    #[test]
    fn posix_lines() {
        for (line, expected) in [
            (
                "/p/dir\\ with\\ space/creds a",
                vec!["/p/dir with space/creds", "a"],
            ),
            (
                "'/p/dir with space/creds' --profile x",
                vec!["/p/dir with space/creds", "--profile", "x"],
            ),
            ("creds a | cat", vec!["creds", "a", "|", "cat"]),
            ("creds a # note", vec!["creds", "a", "#", "note"]),
            ("$HOME/bin/creds ~/x", vec!["$HOME/bin/creds", "~/x"]),
            (
                "creds \"a \\$b \\\" \\\\ c\"",
                vec!["creds", "a \\$b \" \\ c"],
            ),
            ("creds '' \"\" x''y", vec!["creds", "", "", "xy"]),
            ("  creds\t\r\na  ", vec!["creds", "a"]),
            ("", vec![]),
        ] {
            assert_eq!(words(split_posix, line), expected, "{line:?}");
        }
        for unsplittable in ["creds 'a", "creds \"a", "creds a\\", "creds \"a\\"] {
            assert!(split_posix(unsplittable).is_err(), "{unsplittable:?}");
        }
    }

    #[test]
    fn windows_lines() {
        for (line, expected) in [
            (
                "\"C:\\Program Files\\creds.exe\" --profile x",
                vec!["C:\\Program Files\\creds.exe", "--profile", "x"],
            ),
            ("creds a\\\\\\\"b", vec!["creds", "a\\\"b"]),
            ("creds a\\\\\"b c\"", vec!["creds", "a\\b c"]),
            ("creds C:\\dir\\ x", vec!["creds", "C:\\dir\\", "x"]),
            ("creds \"\" 'a b'", vec!["creds", "", "'a", "b'"]),
            ("creds a&b %PATH%", vec!["creds", "a&b", "%PATH%"]),
        ] {
            assert_eq!(words(split_windows, line), expected, "{line:?}");
        }
        assert!(split_windows("creds \"a").is_err());
    }

    #[test]
    fn a_line_with_no_program_is_refused() {
        assert!(split("").is_err());
        assert!(split(" \t ").is_err());
        assert_eq!(split("creds").unwrap(), ["creds"]);
    }
}
