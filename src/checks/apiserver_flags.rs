//! Reading kube-apiserver flags from its static pod, where the control plane is visible.

use k8s_openapi::api::core::v1::Pod;

use crate::view::{CONTROL_PLANE_NAMESPACE, ClusterSnapshot};

/// kube-apiserver's boolean flags (a bare flag means true and takes no value), so that a bare one never swallows
/// the flag after it: `--allow-privileged --token-auth-file=/etc/tokens.csv` still sets a token file.
const BOOLEAN_FLAGS: &[&str] = &[
    "add-dir-header",
    "allow-privileged",
    "alsologtostderr",
    "anonymous-auth",
    "audit-log-batch-throttle-enable",
    "audit-log-compress",
    "audit-log-truncate-enabled",
    "audit-webhook-batch-throttle-enable",
    "audit-webhook-truncate-enabled",
    "contention-profiling",
    "enable-aggregator-routing",
    "enable-bootstrap-token-auth",
    "enable-garbage-collector",
    "enable-logs-handler",
    "enable-priority-and-fairness",
    "encryption-provider-config-automatic-reload",
    "aggregator-reject-forwarding-redirect",
    "disable-http2-serving",
    "emulation-forward-compatible",
    "runtime-config-emulation-forward-compatible",
    "experimental-logging-sanitization",
    "log-json-split-stream",
    "log-text-split-stream",
    "version",
    "help",
    "logtostderr",
    "one-output",
    "permit-address-sharing",
    "permit-port-sharing",
    "profiling",
    "service-account-extend-token-expiration",
    "service-account-lookup",
    "shutdown-send-retry-after",
    "skip-headers",
    "skip-log-headers",
    "watch-cache",
];

/// The command-line flags of one kube-apiserver, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiServerFlags(Vec<(String, Option<String>)>);

impl ApiServerFlags {
    /// Parses flags as the apiserver's flag library (pflag) does: `--name=value`; `--name value` for non-boolean
    /// flags; a bare boolean flag (`--anonymous-auth`) means true and never takes the next word, so
    /// `--anonymous-auth false` leaves anonymous authentication on. Unlike pflag, a next word that is itself a flag
    /// is never taken as a value: a boolean flag missing from [`BOOLEAN_FLAGS`] (a newer release's) must not hide
    /// the security flag after it. No flag the checks read has a value starting with `--`.
    pub fn parse<'a>(argv: impl IntoIterator<Item = &'a str>) -> Self {
        let argv: Vec<&str> = argv.into_iter().collect();
        let mut flags = Vec::new();
        let mut i = 0;
        while i < argv.len() {
            if let Some(flag) = argv[i].strip_prefix("--") {
                if let Some((name, value)) = flag.split_once('=') {
                    flags.push((name.to_string(), Some(value.to_string())));
                } else if !BOOLEAN_FLAGS.contains(&flag)
                    && let Some(next) = argv.get(i + 1)
                    && !next.starts_with("--")
                {
                    flags.push((flag.to_string(), Some((*next).to_string())));
                    i += 1;
                } else {
                    flags.push((flag.to_string(), None));
                }
            }
            i += 1;
        }
        ApiServerFlags(flags)
    }

    /// The last value given for `name` (later flags win, as in the apiserver); `Some("")` for a bare flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// True when `name` is given with a non-empty value.
    pub fn has_value(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.trim().is_empty())
    }
}

/// The kube-apiserver container's flags, when `pod` runs one.
pub fn api_server_flags(pod: &Pod) -> Option<ApiServerFlags> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().find_map(|c| {
        let command = c.command.as_deref().unwrap_or_default();
        let args = c.args.as_deref().unwrap_or_default();
        let runs_apiserver = command
            .first()
            .is_some_and(|cmd| cmd.ends_with("kube-apiserver"))
            || (command.is_empty() && c.name == "kube-apiserver");
        runs_apiserver.then(|| {
            ApiServerFlags::parse(
                command
                    .iter()
                    .skip(1)
                    .chain(args.iter())
                    .map(String::as_str),
            )
        })
    })
}

/// The kube-apiserver static pods visible in kube-system, with their flags.
pub fn visible_api_servers(view: &ClusterSnapshot) -> Vec<(&Pod, ApiServerFlags)> {
    view.control_plane_pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(CONTROL_PLANE_NAMESPACE))
        .filter_map(|p| api_server_flags(p).map(|f| (p.as_ref(), f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_flag_form() {
        let f = ApiServerFlags::parse([
            "--audit-log-path=/var/log/audit.log",
            "--token-auth-file",
            "/etc/tokens.csv",
            "--anonymous-auth",
            "--v=2",
        ]);
        assert_eq!(f.get("audit-log-path"), Some("/var/log/audit.log"));
        assert_eq!(f.get("token-auth-file"), Some("/etc/tokens.csv"));
        assert_eq!(f.get("anonymous-auth"), Some(""));
        assert_eq!(f.get("missing"), None);
        assert!(!f.has_value("anonymous-auth"));
    }

    #[test]
    fn boolean_flags_never_take_the_next_word() {
        let f = ApiServerFlags::parse(["--anonymous-auth", "false", "--token-auth-file", "--v=2"]);
        assert_eq!(f.get("anonymous-auth"), Some(""), "bare boolean flag: true");
        assert_eq!(
            f.get("token-auth-file"),
            Some(""),
            "a flag is never another flag's value"
        );
        assert_eq!(f.get("v"), Some("2"));
    }

    #[test]
    fn an_unknown_bare_flag_never_hides_the_next_flag() {
        let f = ApiServerFlags::parse([
            "--encryption-provider-config-automatic-reload",
            "--token-auth-file=/etc/tokens.csv",
            "--some-future-boolean",
            "--basic-auth-file",
            "/etc/passwords.csv",
        ]);
        assert_eq!(f.get("token-auth-file"), Some("/etc/tokens.csv"));
        assert_eq!(f.get("some-future-boolean"), Some(""));
        assert_eq!(f.get("basic-auth-file"), Some("/etc/passwords.csv"));
    }

    #[test]
    fn bare_boolean_flags_leave_the_next_flag_alone() {
        let f = ApiServerFlags::parse([
            "--allow-privileged",
            "--token-auth-file=/etc/tokens.csv",
            "--enable-bootstrap-token-auth",
            "--basic-auth-file",
            "/etc/passwords.csv",
            "--profiling",
        ]);
        assert_eq!(f.get("allow-privileged"), Some(""));
        assert_eq!(f.get("token-auth-file"), Some("/etc/tokens.csv"));
        assert_eq!(f.get("enable-bootstrap-token-auth"), Some(""));
        assert_eq!(f.get("basic-auth-file"), Some("/etc/passwords.csv"));
        assert_eq!(f.get("profiling"), Some(""));
    }

    #[test]
    fn later_flags_win() {
        let f = ApiServerFlags::parse(["--anonymous-auth=true", "--anonymous-auth=false"]);
        assert_eq!(f.get("anonymous-auth"), Some("false"));
    }

    #[test]
    fn ignores_positional_noise() {
        let f = ApiServerFlags::parse(["stray", "-x", "--a=1"]);
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.0.len(), 1);
    }
}
