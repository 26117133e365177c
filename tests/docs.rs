//! The docs as a reader meets them: `README.md` and `docs/*.md` link only
//! to files, folders and headings that exist, name only scenarios that
//! exist, and the front page stays short. Plain text checks, no Redis.

use std::path::{Path, PathBuf};

/// The front page's hard limit, in lines.
const README_MAX_LINES: usize = 300;

/// The repository's root: relative links and `scenarios/` paths start here.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every `docs/*.md`, as (path, text).
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let docs = std::fs::read_dir(root().join("docs")).expect("a docs/ folder");
    let mut guide: Vec<PathBuf> = docs
        .map(|e| e.expect("reading docs/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    guide.sort();
    paths.extend(guide);
    paths
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, text)
        })
        .collect()
}

/// The lines outside fenced code blocks, with their 1-based numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// A line with its inline code spans blanked out, so that `[a](b)` written
/// as code is not a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// Every markdown link or image target `[..](target)` in the prose, with its
/// line number. A title after the target (`(path "title")`) is dropped.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    for (number, line) in prose(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push((number, target.to_owned()));
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// made hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a page's headings make, repeated headings numbered as
/// GitHub numbers them (`-1`, `-2`, ...).
fn anchors(text: &str) -> Vec<String> {
    let mut anchors: Vec<String> = Vec::new();
    for (_, line) in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let seen = anchors
            .iter()
            .filter(|a| {
                **a == base
                    || a.strip_prefix(&format!("{base}-"))
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        anchors.push(match seen {
            0 => base,
            n => format!("{base}-{n}"),
        });
    }
    anchors
}

/// What is wrong with the links of `text`, a page in folder `dir`: one
/// line per link whose file or folder is missing, or whose `#anchor` is
/// not a heading of the markdown page it points to.
fn broken_links(page: &Path, text: &str) -> Vec<String> {
    let dir = page.parent().expect("a page is in a folder");
    let mut problems = Vec::new();
    for (line, target) in link_targets(text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let where_ = format!("{}:{line}: `{target}`", page.display());
        if file.is_empty() {
            // An anchor of this very page.
            if !anchors(text).iter().any(|a| Some(a.as_str()) == anchor) {
                problems.push(format!("{where_}: no such heading on this page"));
            }
            continue;
        }
        let path = dir.join(file);
        if !path.exists() {
            problems.push(format!("{where_}: {} does not exist", path.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if path.extension().is_some_and(|x| x == "md") {
            let headings = std::fs::read_to_string(&path).map(|t| anchors(&t));
            if !headings
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|a| a == anchor)
            {
                problems.push(format!(
                    "{where_}: no heading #{anchor} in {}",
                    path.display()
                ));
            }
        }
    }
    problems
}

/// Every `scenarios/<name>.toml` a text mentions, prose and code alike.
fn scenario_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("scenarios/") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_')))
            .unwrap_or(tail.len());
        let path = tail[..end].trim_end_matches('.');
        if path.ends_with(".toml") {
            paths.push(path.to_owned());
        }
        rest = &tail["scenarios/".len()..];
    }
    paths
}

#[test]
fn every_relative_link_in_the_readme_and_the_guide_resolves() {
    let pages = pages();
    assert!(pages.len() > 1, "no docs/*.md found");
    let problems: Vec<String> = pages
        .iter()
        .flat_map(|(page, text)| broken_links(page, text))
        .collect();
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_scenario_the_docs_name_exists() {
    let mut missing = Vec::new();
    let mut named = 0;
    for (page, text) in pages() {
        for path in scenario_paths(&text) {
            named += 1;
            if !root().join(&path).is_file() {
                missing.push(format!("{}: {path}", page.display()));
            }
        }
    }
    assert!(
        named > 0,
        "the docs name no scenario at all: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "scenarios named but missing:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_readme_stays_a_front_page_of_at_most_300_lines() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; move detail into docs/ (at most {README_MAX_LINES})"
    );
}

#[test]
fn the_link_check_catches_a_missing_file_a_missing_anchor_and_a_missing_scenario() {
    let page = root().join("docs").join("doctored.md");
    let text = "# Doctored\n\n\
        [fine](README.md) [fine too](scenario.md#scenario-format) [here](#doctored)\n\
        [not here](#nowhere)\n\
        [gone](no-such-page.md) and ![gone too](../reports/example/nothing.svg)\n\
        [bad anchor](scenario.md#no-such-heading) `[code](not-a-link.md)`\n\
        ```\n[in a fence](not-a-link-either.md)\n```\n\
        run `scenarios/no-such-sale.toml` or scenarios/flash-sale.toml.\n";
    let problems = broken_links(&page, text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("#nowhere"), "{problems:#?}");
    assert!(problems[1].contains("no-such-page.md"), "{problems:#?}");
    assert!(problems[2].contains("nothing.svg"), "{problems:#?}");
    assert!(problems[3].contains("#no-such-heading"), "{problems:#?}");
    assert_eq!(
        scenario_paths(text),
        ["scenarios/no-such-sale.toml", "scenarios/flash-sale.toml"]
    );
}

#[test]
fn anchors_follow_githubs_rules_for_punctuation_and_repeats() {
    let text = "# Reports, verdicts and CI\n## A run's folder\n## How far: `measured`\n\
        ```\n# not a heading\n```\n## Notes\n## Notes\n#hashtag\n";
    assert_eq!(
        anchors(text),
        [
            "reports-verdicts-and-ci",
            "a-runs-folder",
            "how-far-measured",
            "notes",
            "notes-1"
        ]
    );
}
