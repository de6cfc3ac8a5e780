//! Parsing directory listings: `MLSD` (RFC 3659 facts) and `LIST` (Unix `ls -l` or DOS).

use suppaftp::list::ListParser;

use crate::transport::{DirEntry, RemotePath};

/// One parsed listing line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A file or directory.
    Entry(DirEntry),
    /// Nothing to report: `.`, `..`, a `total` line, or a name no `RemotePath` could hold.
    Skip,
    /// The line could not be understood.
    Unparsable,
}

/// Parses one `MLSD` line: `type=file;size=12;modify=...; name`.
pub(super) fn parse_mlsd_line(line: &str) -> Line {
    let line = line.trim_end_matches(['\r', '\n']);
    // RFC 3659 §7.2: facts end with ";" and a single space separates them from the name,
    // which may itself contain ";" and spaces.
    let (facts, name) = if let Some(name) = line.strip_prefix(' ') {
        ("", name)
    } else if let Some(end) = line.find("; ") {
        (&line[..end], &line[end + 2..])
    } else {
        return Line::Unparsable;
    };
    let mut kind: Option<String> = None;
    let mut size: Option<u64> = None;
    for fact in facts.split(';') {
        let Some((key, value)) = fact.split_once('=') else {
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => kind = Some(value.to_ascii_lowercase()),
            "size" => size = value.trim().parse().ok(),
            _ => {}
        }
    }
    let is_dir = match kind.as_deref() {
        Some("cdir") | Some("pdir") => return Line::Skip,
        Some("dir") => true,
        // `file`, `OS.unix=symlink`, or no type fact: treat as a file.
        _ => false,
    };
    entry(name, is_dir, if is_dir { None } else { size })
}

/// Parses one `LIST` line in Unix (`-rw-r--r-- 1 ftp ftp 12 Jan 1 00:00 name`) or DOS format.
pub(super) fn parse_list_line(line: &str) -> Line {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() || line.starts_with("total ") {
        return Line::Skip;
    }
    if let Some(parsed) = parse_unix_line(line) {
        return parsed;
    }
    match ListParser::parse_dos(line) {
        Ok(file) => {
            let is_dir = file.is_directory();
            let size = if is_dir {
                None
            } else {
                Some(file.size() as u64)
            };
            entry(file.name(), is_dir, size)
        }
        Err(_) => Line::Unparsable,
    }
}

/// `ls -l` format. The name is everything after the single space that follows the date,
/// so names with leading, trailing or repeated spaces survive (suppaftp's parser trims them).
fn parse_unix_line(line: &str) -> Option<Line> {
    let kind = line.chars().next()?;
    if !matches!(kind, '-' | 'd' | 'l' | 'p' | 's' | 'c' | 'b') {
        return None;
    }
    // Tokens with their byte ranges; stop once a date is found.
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    let bytes = line.as_bytes();
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b' ' {
            i += 1;
        }
        if start == i {
            break;
        }
        tokens.push((start, i));
        let n = tokens.len();
        // ... SIZE MONTH DAY TIME-OR-YEAR name
        if n >= 5 {
            let tok = |k: usize| &line[tokens[k].0..tokens[k].1];
            let (size, month, day, time) = (tok(n - 4), tok(n - 3), tok(n - 2), tok(n - 1));
            if is_month(month) && is_day(day) && is_time_or_year(time) {
                let Ok(size) = size.parse::<u64>() else {
                    continue;
                };
                // Exactly one space separates the date from the name.
                let name_start = tokens[n - 1].1 + 1;
                let mut name = line.get(name_start..)?;
                if kind == 'l' {
                    name = name.split(" -> ").next().unwrap_or(name);
                }
                let is_dir = kind == 'd';
                return Some(entry(name, is_dir, (!is_dir).then_some(size)));
            }
        }
    }
    None
}

fn is_month(s: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS.iter().any(|m| s.eq_ignore_ascii_case(m))
}

fn is_day(s: &str) -> bool {
    !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_time_or_year(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once(':') {
        Some((h, m)) => digits(h) && digits(m),
        None => s.len() == 4 && digits(s),
    }
}

/// Parses one `NLST` line (a bare name, or a path ending in the name).
pub(super) fn parse_nlst_line(line: &str) -> Option<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let name = line.rsplit('/').next().unwrap_or(line);
    if name.is_empty() || name == "." || name == ".." || RemotePath::validate_name(name).is_err() {
        None
    } else {
        Some(name.to_owned())
    }
}

fn entry(name: &str, is_dir: bool, size: Option<u64>) -> Line {
    // Some servers answer `MLSD dir` with paths; keep the last component.
    let name = name.rsplit('/').next().unwrap_or(name);
    if name.is_empty() || name == "." || name == ".." {
        return Line::Skip;
    }
    if RemotePath::validate_name(name).is_err() {
        log::debug!("ftp: skipping listing entry with an unusable name {name:?}");
        return Line::Skip;
    }
    Line::Entry(DirEntry {
        name: name.to_owned(),
        is_dir,
        size,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> Line {
        Line::Entry(DirEntry {
            name: name.into(),
            is_dir: false,
            size: Some(size),
        })
    }

    fn dir(name: &str) -> Line {
        Line::Entry(DirEntry {
            name: name.into(),
            is_dir: true,
            size: None,
        })
    }

    #[test]
    fn mlsd_lines() {
        assert_eq!(
            parse_mlsd_line("type=file;size=12;modify=20240101000000; a b;c.txt"),
            file("a b;c.txt", 12)
        );
        assert_eq!(
            parse_mlsd_line("Type=dir;Modify=20240101000000;UNIX.mode=0755; logs"),
            dir("logs")
        );
        assert_eq!(parse_mlsd_line("type=cdir;modify=1; ."), Line::Skip);
        assert_eq!(parse_mlsd_line("type=pdir;modify=1; .."), Line::Skip);
        assert_eq!(parse_mlsd_line("size=3;type=file; /pub/x"), file("x", 3));
        assert_eq!(parse_mlsd_line("garbage"), Line::Unparsable);
        assert_eq!(parse_mlsd_line("type=file;size=1; bad\\name"), Line::Skip);
    }

    #[test]
    fn list_lines() {
        assert_eq!(
            parse_list_line("-rw-r--r--    1 ftp      ftp            42 Jan 01 12:00 chat.log"),
            file("chat.log", 42)
        );
        assert_eq!(
            parse_list_line("drwxr-xr-x    2 ftp      ftp          4096 Jan 01 2024 logs"),
            dir("logs")
        );
        assert_eq!(parse_list_line("total 8"), Line::Skip);
        // The name keeps its spaces; one at an edge makes it unusable as a RemotePath.
        assert_eq!(
            parse_list_line("-rw-r--r--    1 ftp      ftp             3 Mar 09  2021 a  b"),
            file("a  b", 3)
        );
        assert_eq!(
            parse_list_line("-rw-r--r--    1 ftp      ftp             3 Mar 09  2021  leading"),
            Line::Skip
        );
        assert_eq!(
            parse_list_line("-rw-r--r--    1 ftp      ftp             3 Mar 09 10:00   "),
            Line::Skip
        );
        assert_eq!(
            parse_list_line("-rw-r--r--    1 0 0 7 Mar 9 10:00 a  b Jan 1 2020 c"),
            file("a  b Jan 1 2020 c", 7)
        );
        assert_eq!(
            parse_list_line("lrwxrwxrwx 1 ftp ftp 7 Mar 9 10:00 link -> target"),
            file("link", 7)
        );
        assert_eq!(
            parse_list_line("-rw-r--r-- 1 owner 5 Mar 9 10:00 no-group"),
            file("no-group", 5)
        );
        assert_eq!(
            parse_list_line("10-19-20  03:19PM       <DIR>          room"),
            dir("room")
        );
        assert_eq!(parse_list_line("what is this"), Line::Unparsable);
    }

    #[test]
    fn nlst_lines() {
        assert_eq!(parse_nlst_line("a.txt").as_deref(), Some("a.txt"));
        assert_eq!(parse_nlst_line("room/a.txt").as_deref(), Some("a.txt"));
        assert_eq!(parse_nlst_line("."), None);
    }
}
