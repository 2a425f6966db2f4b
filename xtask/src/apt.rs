//! The host's apt sources, read at run time: the mirror a download uses is
//! whatever this machine already uses, never a host name written in the repo.

use std::path::Path;

use anyhow::{Context, Result};

/// One `deb` source: a mirror URI, a suite, its components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

/// Every `deb` source of the host: `/etc/apt/sources.list`, `*.list` and
/// deb822 `*.sources` files under `/etc/apt/sources.list.d`.
pub fn host_sources() -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    let list = Path::new("/etc/apt/sources.list");
    if list.exists() {
        sources.extend(parse_one_line(&std::fs::read_to_string(list)?));
    }
    let dir = Path::new("/etc/apt/sources.list.d");
    if dir.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match file.extension().and_then(|e| e.to_str()) {
                Some("sources") => sources.extend(parse_deb822(&text)),
                Some("list") => sources.extend(parse_one_line(&text)),
                _ => {}
            }
        }
    }
    Ok(sources)
}

/// `deb [options] URI SUITE COMPONENT...` lines; `deb-src` and comments skipped.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let rest = line.strip_prefix("deb ")?.trim_start();
            // Options in brackets come before the URI.
            let rest = match rest.strip_prefix('[') {
                Some(opts) => opts.split_once(']')?.1.trim_start(),
                None => rest,
            };
            let mut words = rest.split_whitespace();
            Some(Source {
                uri: words.next()?.to_string(),
                suite: words.next()?.to_string(),
                components: words.map(str::to_string).collect(),
            })
        })
        .collect()
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`), one source per
/// URI and suite of each stanza whose types include `deb`.
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            stanza
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (key, value) = l.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.split_whitespace().map(str::to_string).collect())
                })
                .unwrap_or_default()
        };
        if !field("Types").iter().any(|t| t == "deb") {
            continue;
        }
        if field("Enabled").first().is_some_and(|v| v == "no") {
            continue;
        }
        for uri in field("URIs") {
            for suite in field("Suites") {
                sources.push(Source {
                    uri: uri.clone(),
                    suite,
                    components: field("Components"),
                });
            }
        }
    }
    sources
}

/// The kernel release a `linux-headers-amd64` meta package points at, from
/// `apt-cache depends` output: `Depends: linux-headers-6.1.0-28-amd64` gives
/// `6.1.0-28-amd64`.
pub fn headers_release(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let package = line.trim().strip_prefix("Depends:")?.trim();
        let release = package.strip_prefix("linux-headers-")?;
        (release != "amd64").then(|| release.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb822_stanzas() {
        let text = "Types: deb deb-src\nURIs: http://mirror.example/debian\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n\
                    Signed-By: /usr/share/keyrings/k.gpg\n\n\
                    Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\
                    Components: main\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\n\
                    Suites: bookworm-security\nComponents: main contrib\n";
        let sources = parse_deb822(text);
        assert_eq!(sources.len(), 3);
        assert_eq!(sources[1].suite, "bookworm-updates");
        assert_eq!(sources[2].uri, "http://mirror.example/debian-security");
        assert_eq!(sources[2].components, ["main", "contrib"]);
    }

    #[test]
    fn reads_one_line_sources() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n\
                    deb-src http://m.example/debian bookworm main\n\
                    deb http://m.example/debian-security bookworm-security main # trailing\n";
        let sources = parse_one_line(text);
        assert_eq!(
            sources,
            vec![
                Source {
                    uri: "http://m.example/debian".into(),
                    suite: "bookworm".into(),
                    components: vec!["main".into()],
                },
                Source {
                    uri: "http://m.example/debian-security".into(),
                    suite: "bookworm-security".into(),
                    components: vec!["main".into()],
                },
            ]
        );
    }

    #[test]
    fn finds_the_headers_release() {
        let out = "linux-headers-amd64\n  Depends: linux-headers-6.1.0-28-amd64\n";
        assert_eq!(headers_release(out).as_deref(), Some("6.1.0-28-amd64"));
        assert_eq!(headers_release("linux-headers-amd64\n"), None);
    }
}
