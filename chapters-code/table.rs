//! Table lines in `dmsetup` syntax: `<start> <length> <target> [<arguments>...]`.
//!
//! A device's table maps its sectors, in order, onto targets. This module only
//! reads and writes the text; the rules a table must obey (no gaps, known targets,
//! arguments the target accepts) belong to the device-mapper core, see
//! [`crate::sim`]. Both backends parse with this one function, so a line that the
//! simulator reads is exactly the line that reaches the kernel.

use std::fmt;
use std::str::FromStr;

/// One line of a table, as `dmsetup table` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableLine {
    /// First sector of the mapped device that this line covers.
    pub start: u64,
    /// How many sectors it covers.
    pub length: u64,
    /// The target type's name, such as `linear`.
    pub target: String,
    /// The target's arguments, passed to its constructor as one string.
    pub params: String,
}

impl TableLine {
    /// Build a line from its parts.
    pub fn new(start: u64, length: u64, target: &str, params: &str) -> TableLine {
        TableLine {
            start,
            length,
            target: target.to_string(),
            params: params.trim().to_string(),
        }
    }

    /// One past the last sector this line covers, or `None` if that overflows.
    pub fn end(&self) -> Option<u64> {
        self.start.checked_add(self.length)
    }
}

impl fmt::Display for TableLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.start, self.length, self.target)?;
        if !self.params.is_empty() {
            write!(f, " {}", self.params)?;
        }
        Ok(())
    }
}

/// Why a table's text could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("table line {line}: {reason}")]
pub struct ParseError {
    /// Line number, counting from 1 as `dmsetup` does.
    pub line: usize,
    /// What was wrong with it.
    pub reason: String,
}

/// A whole table: its lines in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// The lines, in the order they were given.
    pub lines: Vec<TableLine>,
}

impl Table {
    /// A table of the given lines.
    pub fn new(lines: Vec<TableLine>) -> Table {
        Table { lines }
    }

    /// The size in sectors of a device with this table: where the last line ends.
    pub fn sectors(&self) -> u64 {
        self.lines.last().and_then(TableLine::end).unwrap_or(0)
    }

    /// Read a table in `dmsetup` syntax. Blank lines and `#` comments are skipped,
    /// as `dmsetup create` skips them; at least one line is needed.
    pub fn parse(text: &str) -> Result<Table, ParseError> {
        let mut lines = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let without_comment = raw.split('#').next().unwrap_or("");
            if without_comment.trim().is_empty() {
                continue;
            }
            lines.push(parse_line(without_comment).map_err(|reason| ParseError {
                line: number,
                reason,
            })?);
        }
        if lines.is_empty() {
            return Err(ParseError {
                line: 1,
                reason: "no table lines: expected `<start> <length> <target> [<arguments>...]`"
                    .to_string(),
            });
        }
        Ok(Table { lines })
    }
}

impl FromStr for Table {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Table, ParseError> {
        Table::parse(text)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn parse_line(text: &str) -> Result<TableLine, String> {
    let mut words = text.split_whitespace();
    let start = parse_sector_count(words.next(), "start sector")?;
    let length = parse_sector_count(words.next(), "length")?;
    let target = words
        .next()
        .ok_or("missing target type after `<start> <length>`")?;
    let params = words.collect::<Vec<_>>().join(" ");
    Ok(TableLine::new(start, length, target, &params))
}

/// Sector numbers are plain decimal digits. (`dmsetup` reads them with `%llu`,
/// which would also take `-1` and wrap it to 2^64-1; refusing it is clearer.)
fn parse_sector_count(word: Option<&str>, what: &str) -> Result<u64, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{word}` is not a whole number of sectors"));
    }
    word.parse::<u64>()
        .map_err(|_| format!("{what} `{word}` does not fit in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_line() {
        let table = Table::parse("0 262144 hello_target /dev/loop0 0").unwrap();
        assert_eq!(
            table.lines,
            vec![TableLine::new(0, 262144, "hello_target", "/dev/loop0 0")]
        );
        assert_eq!(table.sectors(), 262144);
    }

    #[test]
    fn skips_blank_lines_and_comments() {
        let table = Table::parse("# two halves\n\n0 8 zero\n8 8 error # broken half\n").unwrap();
        assert_eq!(table.lines.len(), 2);
        assert_eq!(table.lines[1].params, "");
        assert_eq!(table.to_string(), "0 8 zero\n8 8 error\n");
    }

    #[test]
    fn refuses_malformed_lines_with_their_number() {
        let err = Table::parse("0 8 zero\nx 8 zero").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("start sector `x`"), "{err}");
        assert!(Table::parse("0 -1 zero").is_err());
        assert!(Table::parse("0 8").is_err());
        assert!(Table::parse("0 99999999999999999999 zero").is_err());
        assert!(Table::parse("  \n# nothing\n").is_err());
    }
}
