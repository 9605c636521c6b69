//! soc2ctl: evaluate SOC 2 controls offline against manifests on disk.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use soc2_operator::engine::exceptions::{self, ExceptionPolicy};
use soc2_operator::evidence::{self, EvidenceStoreClient, SigningKey, VerifyOutcome};
use soc2_operator::scan::{self, load_paths, load_paths_into};

#[derive(Parser)]
#[command(
    name = "soc2ctl",
    version,
    about = "SOC 2 controls for Kubernetes, from the command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate controls against manifests on disk (a GitOps repo, a `kubectl get -o yaml` dump).
    ///
    /// Exit code: 0 every control compliant, 1 a control fails or cannot be determined, 2 usage or input error.
    Scan {
        /// Manifest files or directories (searched recursively for .yaml, .yml, .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Control manifests (files or directories). Default: the Controls found among PATHS.
        #[arg(long, short = 'c')]
        controls: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
        /// The operator's namespace: ControlExceptions there are cluster-wide (as in the operator's --namespace).
        #[arg(long, default_value = exceptions::DEFAULT_OPERATOR_NAMESPACE)]
        operator_namespace: String,
        /// The longest a ControlException may run from creation to expiry, in days (as in the operator).
        #[arg(long, default_value_t = exceptions::DEFAULT_MAX_EXCEPTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        max_exception_days: u32,
        /// Also append a snapshot in the evidence bundle format to this directory (or s3:// URI).
        #[arg(long, value_name = "DIR")]
        evidence: Option<String>,
        /// Sign that snapshot with this ed25519 seed file (32 raw bytes or 64 hex characters).
        #[arg(long, value_name = "FILE", requires = "evidence")]
        signing_key: Option<PathBuf>,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Print the ed25519 public key (hex) of a signing seed file, to hand to auditors for `verify --public-key`.
    PublicKey {
        /// The seed file (32 raw bytes or 64 hex characters).
        signing_key: PathBuf,
    },
    /// Verify an evidence store: every document hash, chain link and signature.
    ///
    /// Prints the chain head (sequence and SHA-256) and every signing key id. Compare the head with one published
    /// elsewhere (EvidenceStore status.chainHead and status.lastSnapshot.sequence, a ticket) with --expect-head and
    /// --expect-sequence: a truncated or rewritten chain then fails.
    ///
    /// Exit code: 0 intact, 1 tampered, empty or not matching the published head (the first broken object is
    /// named), 2 unreadable or usage error.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// SHA-256 of a chain head published elsewhere: the chain must contain that manifest (at
        /// --expect-sequence when given).
        #[arg(long, value_name = "SHA256")]
        expect_head: Option<String>,
        /// Sequence of a chain head published elsewhere: the chain must reach it.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        expect_sequence: Option<u64>,
    },
    /// Render a Type I (--at) or Type II (--from/--to) report from an evidence store.
    ///
    /// Exit code: 0 written from intact evidence, 1 written but the evidence is tampered, 2 unreadable or usage.
    Report {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Output format.
        #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Export an evidence store as OSCAL assessment-results JSON.
    ///
    /// Exit code: as for `report`.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Export format.
        #[arg(long, short = 'f', value_enum, default_value_t = ExportFormat::Oscal)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// The population of one access review cycle with its decisions, one row per subject: the file an auditor
    /// samples from.
    ///
    /// Verifies the chain first, as `report` does. Without --cycle, lists the cycles the period's snapshots hold
    /// (id, review, state, subjects, decided) to pick from, as a table (-f json: as JSON). The cycle is shown as the
    /// latest snapshot of the period that lists it has it.
    ///
    /// Exit code: 0 written from intact evidence, 1 written but the evidence is tampered (every CSV row, the HTML
    /// and the JSON say so too), 2 unreadable store, usage error, or --cycle/--review naming no single cycle.
    AccessReview {
        #[command(flatten)]
        store: StoreArgs,
        /// Only cycles listed in snapshots taken from then (RFC 3339 or YYYY-MM-DD; default: the first snapshot).
        #[arg(long)]
        from: Option<String>,
        /// Only cycles listed in snapshots taken until then (default now).
        #[arg(long)]
        to: Option<String>,
        /// The cycle id (as AccessReview status and the list show it), or `latest`: the most recent cycle.
        #[arg(long, value_name = "ID")]
        cycle: Option<String>,
        /// The AccessReview, when several have a cycle with that id.
        #[arg(long, value_name = "NAME")]
        review: Option<String>,
        /// Output format (default csv; the list without --cycle is a table, or JSON with -f json).
        #[arg(long, short = 'f', value_enum)]
        format: Option<SampleFormat>,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct S3Args {
    /// S3 endpoint URL for non-AWS stores (e.g. http://127.0.0.1:9000).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// Path-style S3 requests (most non-AWS stores). Credentials come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY or the ambient AWS chain.
    #[arg(long)]
    path_style: bool,
}

impl S3Args {
    fn flags(&self) -> evidence::cli::S3Flags {
        evidence::cli::S3Flags {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
        }
    }
}

#[derive(clap::Args)]
struct StoreArgs {
    /// The evidence store: a directory or s3://BUCKET/PREFIX.
    location: String,
    /// Trusted ed25519 public key file (32 raw bytes or 64 hex characters); repeat for several. Without one,
    /// signatures are not checked.
    #[arg(long, value_name = "FILE")]
    public_key: Vec<PathBuf>,
    #[command(flatten)]
    s3: S3Args,
}

#[derive(clap::Args)]
struct WindowArgs {
    /// Start of a Type II window (RFC 3339 or YYYY-MM-DD).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// End of the window (default now); alone, a Type I report on the last snapshot at or before it.
    #[arg(long, alias = "at")]
    to: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Html,
    Md,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SampleFormat {
    Csv,
    Html,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Oscal,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn fail_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("soc2ctl: {message}");
    ExitCode::from(2)
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail_input(format!("cannot start the async runtime: {e}")))
}

fn open_store(location: &str, s3: &S3Args) -> Result<EvidenceStoreClient, ExitCode> {
    evidence::cli::location(location, &s3.flags())
        .and_then(|l| EvidenceStoreClient::connect(&l))
        .map_err(fail_input)
}

/// Verifies the chain with a progress bar when stderr is a terminal.
fn verify(store: &StoreArgs) -> Result<(EvidenceStoreClient, VerifyOutcome), ExitCode> {
    use std::io::IsTerminal;
    let keys = evidence::cli::load_keys(&store.public_key).map_err(fail_input)?;
    // Reading evidence never creates a store: a mistyped directory must not verify as an empty, intact chain.
    let location =
        evidence::cli::location(&store.location, &store.s3.flags()).map_err(fail_input)?;
    if let evidence::StoreLocation::Filesystem(dir) = &location
        && !dir.is_dir()
    {
        return Err(fail_input(format!(
            "evidence store directory {} does not exist or is not a directory",
            dir.display()
        )));
    }
    let client = EvidenceStoreClient::connect(&location).map_err(fail_input)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "verifying {bar:40} {pos}/{len} manifests {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let outcome = runtime()?
        .block_on(evidence::verify_chain(&client, &keys, |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        }))
        .map_err(|e| fail_input(format!("cannot read the evidence store: {e}")))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((client, outcome))
}

/// What `verify` prints: the verdict, the head, the keys, and what was (not) checked.
fn print_verification(outcome: &VerifyOutcome, uri: &str) {
    if outcome.is_intact() && outcome.snapshots.is_empty() {
        println!("EMPTY: the store holds no snapshot; there is no evidence to verify");
    } else if outcome.is_intact() {
        println!(
            "intact: {} snapshot(s), {} document(s), every hash and chain link verified",
            outcome.snapshots.len(),
            outcome.documents_checked
        );
    } else {
        println!(
            "TAMPERED: {} broken object(s) in {} snapshot(s); first: {}",
            outcome.problems.len(),
            outcome.snapshots.len(),
            outcome.problems[0]
        );
        for p in &outcome.problems {
            println!("  {p}");
        }
    }
    match outcome.head() {
        Some(h) => println!(
            "head: sequence {}, SHA-256 {} (snapshot {}, taken {})",
            h.manifest.sequence, h.digest, h.manifest.snapshot_id, h.manifest.taken_at
        ),
        None => println!("head: none (the store holds no snapshot)"),
    }
    println!(
        "signing keys: {} ({} unsigned manifest(s))",
        if outcome.key_ids.is_empty() {
            "none".to_string()
        } else {
            outcome.key_ids.join(", ")
        },
        outcome.unsigned
    );
    if uri.starts_with("s3://") && !outcome.keeps_versions {
        println!(
            "versions: this bucket keeps no object versions, so a deleted or overwritten head cannot be seen; \
             compare a published head with --expect-head, and enable versioning (Object Lock) on the bucket"
        );
    }
    if outcome.signatures_checked {
        println!("signatures: checked against the trusted public key(s) given");
    } else {
        println!(
            "signatures: NOT checked against a trusted key (pass --public-key): only hashes and links were \
             checked, and anyone with write access to the store could have rewritten the chain"
        );
    }
}

fn window(w: &WindowArgs) -> Result<(Option<Timestamp>, Timestamp), ExitCode> {
    let to = match &w.to {
        Some(t) => evidence::cli::parse_time(t, true).map_err(fail_input)?,
        None => Timestamp::now(),
    };
    let from = match &w.from {
        Some(f) => Some(evidence::cli::parse_time(f, false).map_err(fail_input)?),
        None => None,
    };
    if from.is_some_and(|f| f > to) {
        return Err(fail_input("--from is after --to"));
    }
    Ok((from, to))
}

fn emit(output: Option<&PathBuf>, text: &str) -> Result<(), ExitCode> {
    match output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| fail_input(format!("cannot write {}: {e}", p.display()))),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|_| ExitCode::from(2)),
    }
}

fn integrity_code(outcome: &VerifyOutcome) -> ExitCode {
    if outcome.is_intact() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "soc2ctl: the evidence is TAMPERED; first broken object: {}",
            outcome.problems[0]
        );
        ExitCode::from(1)
    }
}

fn run(cli: Cli) -> Result<ExitCode, ExitCode> {
    match cli.command {
        Command::PublicKey { signing_key } => {
            let key = std::fs::read(&signing_key)
                .map_err(|e| format!("cannot read {}: {e}", signing_key.display()))
                .and_then(|b| SigningKey::from_seed(&b).map_err(|e| e.to_string()))
                .map_err(fail_input)?;
            println!("{}", key.public_key_hex());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            store,
            expect_head,
            expect_sequence,
        } => {
            let expect_head = expect_head
                .as_deref()
                .map(evidence::cli::parse_digest)
                .transpose()
                .map_err(fail_input)?;
            let (client, outcome) = verify(&store)?;
            print_verification(&outcome, client.uri());
            let published = if expect_head.is_some() || expect_sequence.is_some() {
                let check =
                    outcome.contains_published_head(expect_head.as_deref(), expect_sequence);
                match &check {
                    Ok(()) => println!("published head: found in the chain"),
                    Err(why) => println!("published head: NOT MATCHED: {why}"),
                }
                check.is_ok()
            } else {
                true
            };
            if outcome.is_intact() && published && !outcome.snapshots.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(1))
            }
        }
        Command::Report {
            store,
            window: w,
            format,
            output,
        } => {
            let (from, to) = window(&w)?;
            let (client, outcome) = verify(&store)?;
            let report = evidence::report::build(&outcome, client.uri(), from, to);
            let text = match format {
                ReportFormat::Html => evidence::report::render_html(&report),
                ReportFormat::Md => evidence::report::render_markdown(&report),
                ReportFormat::Json => serde_json::to_string_pretty(&report)
                    .map_err(|e| fail_input(format!("cannot render JSON: {e}")))?,
            };
            emit(output.as_ref(), &text)?;
            Ok(integrity_code(&outcome))
        }
        Command::Export {
            store,
            window: w,
            format: ExportFormat::Oscal,
            output,
        } => {
            let (from, to) = window(&w)?;
            let (client, outcome) = verify(&store)?;
            let report = evidence::report::build(&outcome, client.uri(), from, to);
            let text = serde_json::to_string_pretty(&evidence::oscal::export(&report))
                .map_err(|e| fail_input(format!("cannot render JSON: {e}")))?;
            emit(output.as_ref(), &(text + "\n"))?;
            Ok(integrity_code(&outcome))
        }
        Command::AccessReview {
            store,
            from,
            to,
            cycle,
            review,
            format,
            output,
        } => {
            let (from, to) = window(&WindowArgs { from, to })?;
            let (client, outcome) = verify(&store)?;
            let now = Timestamp::now();
            let to = to.min(now);
            let selected = evidence::access_sample::snapshots_in(&outcome, from, to);
            let text = match cycle {
                None => {
                    let mut cycles =
                        evidence::report::access_reviews::section(&outcome, &selected, to);
                    cycles.retain(|c| review.as_ref().is_none_or(|r| &c.access_review == r));
                    let list = evidence::access_sample::listing(&cycles);
                    match format {
                        Some(SampleFormat::Json) => serde_json::to_string_pretty(&list)
                            .map(|t| t + "\n")
                            .map_err(|e| fail_input(format!("cannot render JSON: {e}")))?,
                        _ => evidence::access_sample::render_listing(&list),
                    }
                }
                Some(cycle) => {
                    let cycles =
                        evidence::report::access_reviews::latest_cycles(&outcome, &selected);
                    let chosen =
                        evidence::access_sample::select(&cycles, review.as_deref(), &cycle)
                            .map_err(fail_input)?;
                    let sample =
                        evidence::access_sample::sample(&outcome, chosen, client.uri(), to, now);
                    match format.unwrap_or(SampleFormat::Csv) {
                        SampleFormat::Csv => evidence::access_sample::render_csv(&sample),
                        SampleFormat::Html => evidence::access_sample::render_html(&sample),
                        SampleFormat::Json => serde_json::to_string_pretty(&sample)
                            .map(|t| t + "\n")
                            .map_err(|e| fail_input(format!("cannot render JSON: {e}")))?,
                    }
                }
            };
            emit(output.as_ref(), &text)?;
            Ok(integrity_code(&outcome))
        }
        Command::Scan {
            paths,
            controls,
            output,
            operator_namespace,
            max_exception_days,
            evidence: evidence_dir,
            signing_key,
            s3,
        } => {
            // Controls named apart are read first, so that the manifests keep whole copies of Pods only when a
            // control reads them whole (CEL); controls found among the manifests narrow that afterwards.
            let from_flag = if controls.is_empty() {
                None
            } else {
                Some(load_paths(&controls).map_err(fail_input)?)
            };
            let mut loaded = scan::Loaded::default();
            if let Some(c) = &from_flag {
                loaded.keep_whole_only(&scan::reads_of(&c.controls));
            }
            load_paths_into(&paths, &mut loaded).map_err(fail_input)?;
            let controls = match from_flag {
                None => {
                    loaded.keep_whole_only(&scan::reads_of(&loaded.controls));
                    loaded.controls.clone()
                }
                Some(c) => {
                    // Exceptions are kept beside the controls they waive as often as beside the workloads.
                    loaded
                        .snapshot
                        .control_exceptions
                        .extend(c.snapshot.control_exceptions);
                    c.controls
                }
            };
            loaded.snapshot.exception_policy = ExceptionPolicy {
                cluster_namespace: operator_namespace,
                max_lifetime_days: max_exception_days,
            };
            if controls.is_empty() {
                return Err(fail_input(
                    "no Control manifests found; pass --controls DIR (for example --controls config/samples/)",
                ));
            }
            let report = scan::scan(&loaded, &controls, Timestamp::now());
            let rendered = match output {
                Output::Table => scan::render_table(&report),
                Output::Json => match scan::render_json(&report) {
                    Ok(json) => json + "\n",
                    Err(e) => return Err(fail_input(format!("could not render JSON: {e}"))),
                },
            };
            if let Some(dir) = evidence_dir {
                let key = match signing_key {
                    Some(p) => Some(
                        std::fs::read(&p)
                            .map_err(|e| format!("cannot read signing key {}: {e}", p.display()))
                            .and_then(|b| SigningKey::from_seed(&b).map_err(|e| e.to_string()))
                            .map_err(fail_input)?,
                    ),
                    None => None,
                };
                let store = open_store(&dir, &s3)?;
                let outcome = runtime()?
                    .block_on(evidence::offline::write_scan_snapshot(
                        &store,
                        &loaded.snapshot,
                        &controls,
                        Timestamp::now(),
                        key.as_ref(),
                    ))
                    .map_err(|e| fail_input(format!("cannot write the evidence snapshot: {e}")))?;
                let head = outcome.head();
                eprintln!(
                    "evidence: snapshot {} (sequence {}) at {}",
                    head.manifest.snapshot_id,
                    head.manifest.sequence,
                    store.object_uri(&head.path)
                );
            }
            if std::io::stdout().write_all(rendered.as_bytes()).is_err() {
                return Err(ExitCode::from(2));
            }
            Ok(ExitCode::from(report.exit_code() as u8))
        }
    }
}

fn main() -> ExitCode {
    // S3 stores over HTTPS: with both rustls providers compiled in, a client that asks for the process default
    // would panic (see the function); soc2ctl picks the same one as the operator.
    soc2_operator::install_crypto_provider();
    match run(Cli::parse()) {
        Ok(code) | Err(code) => code,
    }
}
