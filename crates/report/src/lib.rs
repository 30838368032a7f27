//! Turning metrics into what people read: the HTML report, the summary emails, and their delivery.
//!
//! This is the only crate that writes reports or sends mail. Templates are named `*.html`
//! (autoescaped) or `*.txt`; the only fragments marked `| safe` are SVG built by this crate.

mod by_entity;
mod charts;
mod labels;
mod view;
mod xlsx;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use contract::atomic;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, Transport};
use polars::prelude::PolarsError;

pub use by_entity::{ByEntity, Frames};
pub use labels::{Labels, status_label};
pub use view::{BelowRow, PROBLEMS_LISTED, ProblemCount, ProblemInfo, ReportInput, STATUS_ORDER, SourceInfo, View, build_view, format_number, problem_listing, targets_below};
pub use xlsx::{sheet_names, tables_xlsx};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("template {template}: {message}")]
    Template { template: String, message: String },
    #[error("reading column `{column}` of the metrics: {error}")]
    Frame { column: String, error: PolarsError },
    #[error("{path}: cannot write: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("email to {recipient}: {message}")]
    Compose { recipient: String, message: String },
    #[error("delivering to {recipient} by {transport}: {message}")]
    Deliver { recipient: String, transport: String, message: String },
}

impl ReportError {
    pub(crate) fn frame(column: &str) -> impl FnOnce(PolarsError) -> ReportError {
        let column = column.to_string();
        move |error| ReportError::Frame { column, error }
    }
}

/// Walks an error's causes into one line, for template errors whose top level says little.
fn unravel(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

const TEMPLATES: [(&str, &str); 3] = [
    ("report.html", include_str!("../templates/report.html")),
    ("email.html", include_str!("../templates/email.html")),
    ("email.txt", include_str!("../templates/email.txt")),
];

/// The templates, parsed once.
pub struct Renderer {
    tera: tera::Tera,
}

impl Renderer {
    /// Parses the built-in templates.
    pub fn new() -> Result<Renderer, ReportError> {
        let mut tera = tera::Tera::new();
        for (name, text) in TEMPLATES {
            tera.add_raw_template(name, text)
                .map_err(|e| ReportError::Template { template: name.to_string(), message: unravel(&e) })?;
        }
        Ok(Renderer { tera })
    }

    fn render(&self, template: &str, context: &tera::Context) -> Result<String, ReportError> {
        self.tera.render(template, context).map_err(|e| ReportError::Template { template: template.to_string(), message: unravel(&e) })
    }

    /// The full report as HTML.
    pub fn report_html(&self, view: &View) -> Result<String, ReportError> {
        let mut context = tera::Context::new();
        context.insert("v", view);
        self.render("report.html", &context)
    }

    /// The plain-text and HTML parts of a recipient's summary.
    pub fn email_parts(&self, view: &View, name: &str, report_link: &str) -> Result<(String, String), ReportError> {
        let mut context = tera::Context::new();
        context.insert("v", view);
        context.insert("name", name);
        context.insert("report_link", report_link);
        Ok((self.render("email.txt", &context)?, self.render("email.html", &context)?))
    }
}

/// The labels of a language code (`zh-CN` or `en`).
pub fn labels_for(language: &str) -> Labels {
    if language == "en" { Labels::english() } else { Labels::chinese() }
}

/// Writes `html` to `dir/<period>/index.html` atomically, leaving the file untouched when its bytes are the same.
pub fn write_report(dir: &Path, period: &str, html: &str) -> Result<PathBuf, ReportError> {
    write_output(&dir.join(period).join("index.html"), html.as_bytes())
}

/// Writes `bytes` to `path` atomically, leaving the file untouched when its bytes are the same.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    if !atomic::same_content(path, bytes) {
        atomic::write_file(path, bytes).map_err(|error| ReportError::Write { path: path.display().to_string(), error })?;
    }
    Ok(path.to_path_buf())
}

/// Writes the named columns of `frame` to `path` atomically, as Parquet or as CSV (numbers at full precision).
pub fn write_table(frame: &polars::prelude::DataFrame, columns: &[&str], path: &Path, parquet: bool) -> Result<(), ReportError> {
    let mut writer = TableWriter::new(path, columns, parquet)?;
    writer.write(frame)?;
    writer.finish()
}

/// A table written part by part, as CSV or Parquet, that replaces its file only when finished.
pub struct TableWriter {
    path: PathBuf,
    columns: Vec<String>,
    pending: atomic::Pending,
    format: TableFormat,
}

enum TableFormat {
    Csv { header_written: bool },
    Parquet(Option<polars::io::parquet::write::BatchedWriter<std::fs::File>>),
}

impl TableWriter {
    pub fn new(path: &Path, columns: &[&str], parquet: bool) -> Result<TableWriter, ReportError> {
        let pending = atomic::Pending::new(path).map_err(|error| ReportError::Write { path: path.display().to_string(), error })?;
        let format = if parquet { TableFormat::Parquet(None) } else { TableFormat::Csv { header_written: false } };
        Ok(TableWriter { path: path.to_path_buf(), columns: columns.iter().map(|c| c.to_string()).collect(), pending, format })
    }

    fn error(path: &Path, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ReportError {
        ReportError::Write { path: path.display().to_string(), error: std::io::Error::other(error) }
    }

    /// Appends the named columns of `frame`.
    pub fn write(&mut self, frame: &polars::prelude::DataFrame) -> Result<(), ReportError> {
        use polars::prelude::*;
        let path = &self.path;
        let mut selected = frame.select(self.columns.iter().map(String::as_str)).map_err(|e| Self::error(path, e))?;
        let file = self.pending.file().try_clone().map_err(|e| Self::error(path, e))?;
        let written = match &mut self.format {
            TableFormat::Csv { header_written } => {
                let include_header = !*header_written;
                *header_written = true;
                CsvWriter::new(file).include_header(include_header).finish(&mut selected)
            }
            TableFormat::Parquet(writer) => {
                if writer.is_none() {
                    // LZ4: a little larger than zstd, and writing is about a third faster.
                    *writer = Some(ParquetWriter::new(file).with_compression(ParquetCompression::Lz4Raw).batched(selected.schema()).map_err(|e| Self::error(path, e))?);
                }
                // The writer reads the frame as record batches, which need every column in chunks of the same lengths.
                selected.align_chunks_par();
                writer.as_mut().expect("created above").write_batch(&selected)
            }
        };
        written.map_err(|e| Self::error(path, e))
    }

    /// Syncs what is written so far to the disk, so that [`TableWriter::finish`] syncs only the
    /// rest: a writer thread calls it after each part, while the next part is being computed.
    pub fn sync_so_far(&self) -> Result<(), ReportError> {
        self.pending.file().sync_data().map_err(|error| ReportError::Write { path: self.path.display().to_string(), error })
    }

    /// Closes the table (one with no rows still gets its columns) and moves it into place.
    pub fn finish(mut self) -> Result<(), ReportError> {
        use polars::prelude::*;
        let nothing_written = match &self.format {
            TableFormat::Csv { header_written } => !header_written,
            TableFormat::Parquet(writer) => writer.is_none(),
        };
        if nothing_written {
            let empty = DataFrame::empty_with_schema(&Schema::from_iter(self.columns.iter().map(|c| Field::new(c.as_str().into(), DataType::Null))));
            self.write(&empty)?;
        }
        if let TableFormat::Parquet(Some(writer)) = &mut self.format {
            writer.finish().map_err(|e| Self::error(&self.path, e))?;
        }
        let path = self.path.display().to_string();
        self.pending.commit().map_err(|error| ReportError::Write { path, error })
    }
}

/// One summary email, ready to send.
pub struct Email {
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    /// SHA-256 of the subject and both parts: what the recipient reads.
    pub content_sha256: String,
    pub text: String,
    pub html: String,
    pub message: Message,
}

/// What to compose for one recipient.
pub struct EmailRequest<'a> {
    pub from: &'a str,
    pub to_address: &'a str,
    pub to_name: &'a str,
    pub view: &'a View,
    pub report_link: &'a str,
    /// A stable identity for the message (period and recipient), used for its Message-ID.
    pub identity: &'a str,
    /// The full report to attach (when no base URL links to it).
    pub attachment: Option<&'a Attachment>,
    pub date: std::time::SystemTime,
}

/// A file attached to every summary of a run, encoded once for all of them (the national
/// report attached to 2,978 emails was encoded 2,978 times).
#[derive(Clone)]
pub struct Attachment {
    name: String,
    body: lettre::message::Body,
    content_type: lettre::message::header::ContentType,
}

impl Attachment {
    /// An HTML file named `name`.
    pub fn html(name: &str, html: &str) -> Result<Attachment, ReportError> {
        let content_type = lettre::message::header::ContentType::parse("text/html; charset=utf-8")
            .map_err(|e| ReportError::Compose { recipient: String::new(), message: format!("attachment {name}: {e}") })?;
        Ok(Attachment { name: name.to_string(), body: lettre::message::Body::new(crlf(html)), content_type })
    }
}

/// Composes a multipart/alternative summary (plain text and HTML) for one recipient.
pub fn compose_email(renderer: &Renderer, request: &EmailRequest<'_>) -> Result<Email, ReportError> {
    let compose_error = |message: String| ReportError::Compose { recipient: request.to_address.to_string(), message };
    let (text, html) = renderer.email_parts(request.view, request.to_name, request.report_link)?;
    let subject = if request.view.lang == "en" {
        format!("{}: {} alerts", request.view.title, request.view.alerts.len())
    } else {
        format!("{}：{} 项预警", request.view.title, request.view.alerts.len())
    };
    use sha2::Digest;
    let digest = sha2::Sha256::digest(request.identity.as_bytes());
    let message_id = format!("<{}.{}@townpulse>", request.view.period, &format!("{digest:x}")[..24]);
    let from: Mailbox = request.from.parse().map_err(|e| compose_error(format!("`from` {:?}: {e}", request.from)))?;
    let to = Mailbox::new(Some(request.to_name.to_string()), request.to_address.parse().map_err(|e| compose_error(format!("address: {e}")))?);
    // The HTML part and, related to it, one PNG progress bar per target that has a progress,
    // referenced from the HTML as `cid:barN@townpulse` (N counts the targets from 1).
    let png_type = lettre::message::header::ContentType::parse("image/png").map_err(|e| compose_error(e.to_string()))?;
    let mut related = MultiPart::related().singlepart(lettre::message::SinglePart::html(crlf(&html)));
    for (index, row) in request.view.targets.iter().enumerate() {
        if let Ok(progress) = row.progress.parse::<f64>() {
            let png = charts::progress_png(progress, row.time_share.parse().ok(), charts::status_rgb(&row.status));
            related = related.singlepart(lettre::message::Attachment::new_inline(format!("bar{}@townpulse", index + 1)).body(png, png_type.clone()));
        }
    }
    let alternative = MultiPart::alternative().singlepart(lettre::message::SinglePart::plain(crlf(&text))).multipart(related);
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject.clone())
        .message_id(Some(message_id.clone()))
        .date(request.date)
        .multipart(match request.attachment {
            None => alternative,
            Some(attached) => MultiPart::mixed()
                .multipart(alternative)
                .singlepart(lettre::message::Attachment::new(attached.name.clone()).body(attached.body.clone(), attached.content_type.clone())),
        })
        .map_err(|e| compose_error(e.to_string()))?;
    let content_sha256 = format!("{:x}", sha2::Sha256::digest(format!("{subject}\n{text}\n{html}").as_bytes()));
    Ok(Email { recipient: request.to_address.to_string(), subject, message_id, content_sha256, text, html, message })
}

/// A plain-text notice to operators (a run that finally failed), with a stable Message-ID.
pub fn compose_notice(from: &str, to: &str, subject: &str, body: &str, identity: &str, date: std::time::SystemTime) -> Result<Email, ReportError> {
    let compose_error = |message: String| ReportError::Compose { recipient: to.to_string(), message };
    use sha2::Digest;
    let digest = format!("{:x}", sha2::Sha256::digest(identity.as_bytes()));
    let message_id = format!("<notice.{}@townpulse>", &digest[..24]);
    let message = Message::builder()
        .from(from.parse::<Mailbox>().map_err(|e| compose_error(format!("`from` {from:?}: {e}")))?)
        .to(to.parse::<Mailbox>().map_err(|e| compose_error(format!("address: {e}")))?)
        .subject(subject)
        .message_id(Some(message_id.clone()))
        .date(date)
        .singlepart(lettre::message::SinglePart::plain(crlf(body)))
        .map_err(|e| compose_error(e.to_string()))?;
    let content_sha256 = format!("{:x}", sha2::Sha256::digest(format!("{subject}\n{body}").as_bytes()));
    Ok(Email { recipient: to.to_string(), subject: subject.to_string(), message_id, content_sha256, text: body.to_string(), html: String::new(), message })
}

/// The text with CRLF line endings, converted in one pass: lettre converts a body it is given
/// by inserting each `\r` in place, which is quadratic — minutes for a 40 MB report attached.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(body) => {
                out.push_str(body.strip_suffix('\r').unwrap_or(body));
                out.push_str("\r\n");
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Where emails go: `.eml` files in a folder, or an SMTP relay.
pub enum Mailer {
    Outbox { dir: PathBuf },
    Smtp { url: String, transport: Box<lettre::SmtpTransport> },
}

impl Mailer {
    /// A folder of `.eml` files.
    pub fn outbox(dir: &Path) -> Mailer {
        Mailer::Outbox { dir: dir.to_path_buf() }
    }

    /// An SMTP relay from `smtp://[user@]host[:port]` or `smtps://…`, with the password given apart.
    pub fn smtp(url: &str, password: Option<&str>) -> Result<Mailer, ReportError> {
        let error = |message: String| ReportError::Deliver { recipient: String::new(), transport: redact(url), message };
        let mut builder = lettre::SmtpTransport::from_url(url).map_err(|e| error(unravel(&e)))?;
        let user = url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(user, _)| user.to_string());
        if let (Some(user), Some(password)) = (user, password) {
            builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(user, password.to_string()));
        }
        let transport = builder.timeout(Some(std::time::Duration::from_secs(30))).build();
        Ok(Mailer::Smtp { url: url.to_string(), transport: Box::new(transport) })
    }

    /// Checks that mail can go out: the outbox folder can be created, or the SMTP relay answers
    /// (connects, greets, and accepts our EHLO and any TLS or login the URL asks for).
    pub fn check(&self) -> Result<(), ReportError> {
        let error = |message: String| ReportError::Deliver { recipient: String::new(), transport: self.describe(), message };
        match self {
            Mailer::Outbox { dir } => std::fs::create_dir_all(dir).map_err(|e| error(format!("cannot create {}: {e}", dir.display()))),
            Mailer::Smtp { transport, .. } => match transport.test_connection() {
                Ok(true) => Ok(()),
                Ok(false) => Err(error("the server did not answer NOOP".to_string())),
                Err(e) => Err(error(format!("not reachable: {}", unravel(&e)))),
            },
        }
    }

    /// A short description for the ledger and logs (never a password).
    pub fn describe(&self) -> String {
        match self {
            Mailer::Outbox { dir } => format!("outbox {}", dir.display()),
            Mailer::Smtp { url, .. } => format!("smtp {}", redact(url)),
        }
    }

    /// Sends one email; for the outbox, writes `<stem>.eml` atomically and returns its path.
    ///
    /// Transient SMTP failures — a refused connection, a timeout, a 4xx — are retried up to
    /// `retries` times, waiting `backoff`, then twice that, and so on; a 5xx refusal, a TLS
    /// failure or a client (configuration) error is not retried.
    pub fn send(&self, email: &Email, stem: &str, retries: u32, backoff: std::time::Duration) -> Result<String, ReportError> {
        let error = |message: String| ReportError::Deliver { recipient: email.recipient.clone(), transport: self.describe(), message };
        match self {
            Mailer::Outbox { dir } => {
                let path = dir.join(format!("{stem}.eml"));
                atomic::write_file(&path, &email.message.formatted()).map_err(|e| error(format!("{}: {e}", path.display())))?;
                Ok(path.display().to_string())
            }
            Mailer::Smtp { transport, .. } => {
                let mut attempt = 0;
                loop {
                    match transport.send(&email.message) {
                        Ok(response) => {
                            let retried = if attempt > 0 { format!(" after {} retries", attempt) } else { String::new() };
                            return Ok(format!("smtp {}{retried}", response.code()));
                        }
                        // A refused connection, a timeout or a 4xx may pass; a 5xx, a TLS or a client
                        // (configuration) error will not.
                        Err(e) if !(e.is_permanent() || e.is_client() || e.is_tls()) && attempt < retries => {
                            tracing::warn!(message = "Delivery failed; retrying.", attempt = attempt + 1, error = %unravel(&e));
                            std::thread::sleep(backoff * 2u32.saturating_pow(attempt));
                            attempt += 1;
                        }
                        Err(e) => {
                            let kind = if e.is_permanent() { "refused permanently" } else { "failed" };
                            return Err(error(format!("{kind} after {} attempts: {}", attempt + 1, unravel(&e))));
                        }
                    }
                }
            }
        }
    }
}

fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A file-name-safe form of an email address.
pub fn address_stem(address: &str) -> String {
    address.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The entity codes a view should be limited to, for a recipient.
pub type Followed = BTreeSet<String>;
