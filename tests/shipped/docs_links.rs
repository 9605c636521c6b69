//! Every relative link in README.md, docs/ and examples/ reaches a file that exists, and every `#anchor` a heading
//! of that file (GitHub's slugs: lowercase, punctuation dropped, spaces as hyphens, `-1`, `-2` for repeats): the
//! README is a landing page whose reference lives in docs/, and a moved section must not leave a dead link behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![PathBuf::from("README.md")];
    walk(Path::new("docs"), &mut files);
    walk(Path::new("examples"), &mut files);
    files
}

/// The lines of `text` outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// The anchors GitHub gives the headings of `text`, and explicit `<a name|id="...">` anchors.
fn anchors(text: &str) -> BTreeSet<String> {
    let heading = Regex::new(r"^#{1,6}\s+(.*?)\s*#*\s*$").expect("regex");
    let punctuation = Regex::new(r"[^\w\- ]").expect("regex");
    let explicit = Regex::new(r#"<a (?:name|id)="([^"]+)""#).expect("regex");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        if let Some(c) = heading.captures(line) {
            let slug = punctuation
                .replace_all(&c[1].trim().to_lowercase(), "")
                .replace(' ', "-");
            let n = seen.entry(slug.clone()).or_default();
            out.insert(if *n == 0 {
                slug.clone()
            } else {
                format!("{slug}-{n}")
            });
            *n += 1;
        }
    }
    out.extend(explicit.captures_iter(text).map(|c| c[1].to_string()));
    out
}

#[test]
fn every_link_in_the_docs_reaches_its_target() {
    let link = Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    let code = Regex::new(r"`[^`]*`").expect("regex");
    let mut problems = Vec::new();
    let files = markdown_files();
    assert!(files.len() > 5, "found only {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for (number, line) in prose(&text) {
            // Links inside inline code are examples, not links.
            let line = code.replace_all(line, |c: &regex::Captures| {
                if c[0].contains("](") {
                    String::new()
                } else {
                    c[0].to_string()
                }
            });
            for target in link.captures_iter(&line).map(|c| c[1].to_string()) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let destination = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().unwrap_or(Path::new(".")).join(path)
                };
                let at = format!("{}:{number}", file.display());
                if !destination.exists() {
                    problems.push(format!("{at}: {target}: no such file"));
                    continue;
                }
                if anchor.is_empty() {
                    continue;
                }
                if destination.extension().is_none_or(|e| e != "md") {
                    problems.push(format!(
                        "{at}: {target}: an anchor on a file that is not Markdown"
                    ));
                    continue;
                }
                let target_text = std::fs::read_to_string(&destination).expect("readable");
                if !anchors(&target_text).contains(anchor) {
                    problems.push(format!("{at}: {target}: no heading gives #{anchor}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "dead links:\n{}", problems.join("\n"));
}

#[test]
fn anchors_follow_githubs_slugs() {
    let a = anchors(
        "# Quick start (no cluster needed)\n## `soc2ctl scan`\n## Status\n## Status\n```\n# not a heading\n```\n",
    );
    assert_eq!(
        a,
        BTreeSet::from([
            "quick-start-no-cluster-needed".to_string(),
            "soc2ctl-scan".to_string(),
            "status".to_string(),
            "status-1".to_string(),
        ])
    );
}
