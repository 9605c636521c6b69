//! Container image references, parsed as the container runtime reads them (the distribution reference grammar):
//! `[registry[:port]/]path[:tag][@algorithm:hex]`, with Docker Hub's short names normalized.

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (with port), `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path, `library/nginx` for the short name `nginx`.
    pub path: String,
    /// The tag, when one is given.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), when one is given.
    pub digest: Option<String>,
}

impl ImageRef {
    /// `registry/path`, the form allowed-registry prefixes are compared with.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }
}

const DOCKER_HUB: &str = "docker.io";

/// Parses an image reference; `Err` says why it is not one.
pub fn parse(reference: &str) -> Result<ImageRef, String> {
    if reference.is_empty() {
        return Err("the image is empty".into());
    }
    if reference.trim() != reference || reference.chars().any(char::is_whitespace) {
        return Err("the image contains whitespace".into());
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(parse_digest(d)?)),
        None => (reference, None),
    };
    // A tag follows the last ':' after the last '/'; an earlier ':' is a registry port.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&name_tag[..at], Some(&name_tag[at + 1..]))
        }
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        valid_tag(tag)?;
    }
    if name.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            valid_registry(first)?;
            (first.to_ascii_lowercase(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => registry,
    };
    if path.is_empty() {
        return Err("the repository path is empty".into());
    }
    for component in path.split('/') {
        valid_path_component(component)?;
    }
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    Ok(ImageRef {
        registry,
        path,
        tag: tag.map(str::to_string),
        digest,
    })
}

fn parse_digest(digest: &str) -> Result<String, String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "the digest {digest:?} is not of the form algorithm:hex (e.g. sha256:...)"
        ));
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c));
    if !algorithm_ok {
        return Err(format!("the digest algorithm {algorithm:?} is not valid"));
    }
    let hex_ok = hex.len() >= 32
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    let length_ok = algorithm != "sha256" || hex.len() == 64;
    if !hex_ok || !length_ok {
        return Err(format!(
            "the digest {digest:?} is not valid: expected lowercase hex (64 digits for sha256)"
        ));
    }
    Ok(digest.to_string())
}

fn valid_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "the tag {tag:?} is not valid (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"
        ))
    }
}

fn valid_registry(host: &str) -> Result<(), String> {
    let invalid = || format!("the registry {host:?} is not a valid host[:port]");
    // An IPv6 literal is bracketed, so its colons are not a port separator.
    let (name, port) = if let Some(close) = host.strip_prefix('[').and_then(|_| host.find(']')) {
        let (literal, rest) = host.split_at(close + 1);
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':').ok_or_else(invalid)?),
        };
        if literal.len() <= 2
            || !literal[1..literal.len() - 1]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':')
        {
            return Err(invalid());
        }
        (None, port)
    } else {
        match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    let name_ok = name.is_none_or(|name| {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

fn valid_path_component(component: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let chars_ok = component.chars().all(|c| alnum(c) || "._-".contains(c));
    let ends_ok =
        component.chars().next().is_some_and(alnum) && component.chars().last().is_some_and(alnum);
    // Separators are '.', '_', '__' or runs of '-'; two dots or three underscores in a row are not.
    let separators_ok = !component.contains("..")
        && !component.contains("___")
        && !component.contains("._")
        && !component.contains("_.");
    if chars_ok && ends_ok && separators_ok {
        Ok(())
    } else {
        Err(format!(
            "the repository path component {component:?} is not valid (lowercase letters and digits, separated by '.', '_', '__' or '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ok(s: &str) -> ImageRef {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_short_names_normalize() {
        let r = ok("nginx");
        assert_eq!(r.repository(), "docker.io/library/nginx");
        assert_eq!(r.tag, None);
        assert_eq!(
            ok("bitnami/redis:7.2").repository(),
            "docker.io/bitnami/redis"
        );
        assert_eq!(
            ok("index.docker.io/library/nginx:1.25").repository(),
            "docker.io/library/nginx"
        );
        assert_eq!(
            ok("docker.io/nginx").repository(),
            "docker.io/library/nginx"
        );
    }

    #[test]
    fn registry_port_tag_and_digest() {
        let r = ok(&format!("registry.example.com:5000/team/app:1.2.3@{SHA}"));
        assert_eq!(r.registry, "registry.example.com:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2.3"));
        assert_eq!(r.digest.as_deref(), Some(SHA));
        let r = ok("localhost:5000/app");
        assert_eq!((r.registry.as_str(), r.tag), ("localhost:5000", None));
        let r = ok("localhost/app:v1");
        assert_eq!(r.registry, "localhost");
        let r = ok(&format!("ghcr.io/acme/api@{SHA}"));
        assert_eq!((r.tag, r.digest.is_some()), (None, true));
        assert_eq!(ok("[::1]:5000/app:1").registry, "[::1]:5000");
        assert_eq!(ok("[fe80::1]/app").registry, "[fe80::1]");
        assert!(parse("[zz]/app").is_err());
        assert!(parse("[::1]x/app").is_err());
    }

    #[test]
    fn malformed_references_are_errors_not_panics() {
        for bad in [
            "",
            " nginx",
            "nginx:",
            "nginx:-bad",
            "Nginx",
            "registry.example.com/",
            "registry.example.com:port/app",
            "app@sha256:abc",
            "app@sha256",
            "app@SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a..b",
            "ghcr.io//app",
            "ghcr.io/acme/app:tag:more",
            ":tag",
            "@",
            "/",
            "-leading/app",
            "app:tag with space",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("ghcr.io/{}", "a".repeat(300));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_text() {
        let alphabet = [
            'a', 'Z', '0', ':', '/', '@', '.', '-', '_', '[', ']', 'é', ' ',
        ];
        // Every string of up to four characters from the alphabet: enough to hit every branch's edge.
        let mut stack = vec![String::new()];
        while let Some(s) = stack.pop() {
            let _ = parse(&s);
            if s.chars().count() < 4 {
                for c in alphabet {
                    stack.push(format!("{s}{c}"));
                }
            }
        }
    }
}
