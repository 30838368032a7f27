//! The run ledger: one SQLite file recording every run, its stages, inputs, outputs, problems and deliveries.
//!
//! Every write is its own transaction, so a kill leaves the ledger consistent. Times are given
//! by the caller as RFC 3339 text; this crate never reads the clock.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
#[error("run ledger {path}: {error}")]
pub struct LedgerError {
    pub path: String,
    pub error: rusqlite::Error,
}

pub type RunId = i64;

/// The state of a delivery of one period's summary to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Recorded before handing the message over; a run that died here leaves the outcome unknown.
    Sending,
    Sent,
    Failed,
}

impl DeliveryState {
    fn code(self) -> &'static str {
        match self {
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> DeliveryState {
        match text {
            "sent" => DeliveryState::Sent,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Sending,
        }
    }
}

/// A summary row of a run, for status displays and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub id: RunId,
    pub period: String,
    /// The scheduled job that ran it, or `cli` for an operator's command.
    pub job: String,
    pub trigger: String,
    pub state: String,
    pub exit_code: Option<i64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// Everything the ledger holds about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetails {
    pub run: RunSummary,
    /// `(stage, rows, duration_ms)`.
    pub stages: Vec<(String, i64, i64)>,
    /// `(source, sha256, rows, set_aside, state)`.
    pub inputs: Vec<(String, String, i64, i64, String)>,
    /// `(level, place, message)`.
    pub problems: Vec<(String, String, String)>,
    /// `(recipient, state, result)`.
    pub deliveries: Vec<(String, String, Option<String>)>,
}

pub struct Ledger {
    path: String,
    connection: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    period TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    state TEXT NOT NULL,
    exit_code INTEGER,
    error TEXT
);
CREATE TABLE IF NOT EXISTS stages (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    stage TEXT NOT NULL,
    rows INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rows INTEGER NOT NULL,
    set_aside INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS problems (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    level TEXT NOT NULL,
    place TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    period TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    transport TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_key ON deliveries(period, recipient);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
";

impl Ledger {
    /// Opens (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let path_text = path.display().to_string();
        let error = |error| LedgerError { path: path_text.clone(), error };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let connection = Connection::open(path).map_err(error)?;
        connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(error)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(error)?;
        connection.pragma_update(None, "synchronous", "FULL").map_err(error)?;
        connection.execute_batch(SCHEMA).map_err(error)?;
        // Ledgers created before deliveries recorded the content's checksum.
        let has_checksum = connection
            .prepare("SELECT 1 FROM pragma_table_info('deliveries') WHERE name = 'content_sha256'")
            .and_then(|mut s| s.exists([]))
            .map_err(error)?;
        if !has_checksum {
            connection.execute_batch("ALTER TABLE deliveries ADD COLUMN content_sha256 TEXT NOT NULL DEFAULT ''").map_err(error)?;
        }
        // Ledgers created before runs recorded their job.
        let has_job =
            connection.prepare("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'job'").and_then(|mut s| s.exists([])).map_err(error)?;
        if !has_job {
            connection.execute_batch("ALTER TABLE runs ADD COLUMN job TEXT NOT NULL DEFAULT 'cli'").map_err(error)?;
        }
        Ok(Ledger { path: path_text, connection })
    }

    fn error(&self) -> impl FnOnce(rusqlite::Error) -> LedgerError {
        let path = self.path.clone();
        move |error| LedgerError { path, error }
    }

    /// Marks runs left `running` by a process that died as `abandoned`; returns how many.
    pub fn abandon_stale_runs(&self, now: &str) -> Result<usize, LedgerError> {
        self.connection
            .execute("UPDATE runs SET state = 'abandoned', finished_at = ?1 WHERE state = 'running'", params![now])
            .map_err(self.error())
    }

    pub fn begin_run(&self, period: &str, job: &str, trigger: &str, now: &str) -> Result<RunId, LedgerError> {
        self.connection
            .execute(
                "INSERT INTO runs (period, job, trigger, started_at, state) VALUES (?1, ?2, ?3, ?4, 'running')",
                params![period, job, trigger, now],
            )
            .map_err(self.error())?;
        Ok(self.connection.last_insert_rowid())
    }

    /// When the daemon first saw `job` (recording `now` the first time): the start of its schedule.
    pub fn job_first_seen(&self, job: &str, now: &str) -> Result<String, LedgerError> {
        self.connection.execute("INSERT OR IGNORE INTO jobs (name, first_seen) VALUES (?1, ?2)", params![job, now]).map_err(self.error())?;
        self.connection.query_row("SELECT first_seen FROM jobs WHERE name = ?1", params![job], |row| row.get(0)).map_err(self.error())
    }

    /// The run that completed `period` (done, with or without problems), if any: the run key.
    pub fn done_run(&self, period: &str) -> Result<Option<RunId>, LedgerError> {
        self.connection
            .query_row(
                "SELECT id FROM runs WHERE period = ?1 AND state IN ('done', 'done_with_problems') ORDER BY id DESC LIMIT 1",
                params![period],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.error())
    }

    /// Periods a job started but did not complete (failed, interrupted or abandoned), and that no
    /// later run completed: the next start finishes them.
    pub fn unfinished_periods(&self, job: &str) -> Result<Vec<String>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT DISTINCT period FROM runs WHERE job = ?1 AND state IN ('failed', 'interrupted', 'abandoned')
                 AND period NOT IN (SELECT period FROM runs WHERE state IN ('done', 'done_with_problems')) ORDER BY period",
            )
            .map_err(self.error())?;
        let rows = statement.query_map(params![job], |row| row.get(0)).map_err(self.error())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.error())
    }

    /// Records the period a run turned out to report (when it was not known at the start).
    pub fn set_period(&self, run: RunId, period: &str) -> Result<(), LedgerError> {
        self.connection.execute("UPDATE runs SET period = ?2 WHERE id = ?1", params![run, period]).map_err(self.error())?;
        Ok(())
    }

    pub fn record_stage(&self, run: RunId, stage: &str, rows: usize, duration_ms: u128) -> Result<(), LedgerError> {
        self.connection
            .execute(
                "INSERT INTO stages (run_id, stage, rows, duration_ms) VALUES (?1, ?2, ?3, ?4)",
                params![run, stage, rows as i64, duration_ms as i64],
            )
            .map_err(self.error())?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_input(&self, run: RunId, source: &str, path: &str, sha256: &str, rows: usize, set_aside: usize, state: &str) -> Result<(), LedgerError> {
        self.connection
            .execute(
                "INSERT INTO inputs (run_id, source, path, sha256, rows, set_aside, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run, source, path, sha256, rows as i64, set_aside as i64, state],
            )
            .map_err(self.error())?;
        Ok(())
    }

    pub fn record_output(&self, run: RunId, path: &str, sha256: &str) -> Result<(), LedgerError> {
        self.connection
            .execute("INSERT INTO outputs (run_id, path, sha256) VALUES (?1, ?2, ?3)", params![run, path, sha256])
            .map_err(self.error())?;
        Ok(())
    }

    pub fn record_problem(&self, run: RunId, level: &str, place: &str, message: &str) -> Result<(), LedgerError> {
        self.record_problems(run, [(level, place, message)])
    }

    /// Records many problems (level, place, message) in one transaction: all of them or none.
    pub fn record_problems<'a>(&self, run: RunId, problems: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Result<(), LedgerError> {
        let transaction = self.connection.unchecked_transaction().map_err(self.error())?;
        {
            let mut insert =
                transaction.prepare("INSERT INTO problems (run_id, level, place, message) VALUES (?1, ?2, ?3, ?4)").map_err(self.error())?;
            for (level, place, message) in problems {
                insert.execute(params![run, level, place, message]).map_err(self.error())?;
            }
        }
        transaction.commit().map_err(self.error())
    }

    /// The latest delivery state of `period` to `recipient`, if any.
    pub fn delivery_state(&self, period: &str, recipient: &str) -> Result<Option<DeliveryState>, LedgerError> {
        self.connection
            .query_row(
                "SELECT state FROM deliveries WHERE period = ?1 AND recipient = ?2 ORDER BY id DESC LIMIT 1",
                params![period, recipient],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map(|state| state.map(|s| DeliveryState::parse(&s)))
            .map_err(self.error())
    }

    /// Records that a message is about to be handed over; returns the delivery's id.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_delivery(
        &self,
        run: RunId,
        period: &str,
        recipient: &str,
        message_id: &str,
        content_sha256: &str,
        transport: &str,
        now: &str,
    ) -> Result<i64, LedgerError> {
        self.connection
            .execute(
                "INSERT INTO deliveries (run_id, period, recipient, message_id, content_sha256, transport, state, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![run, period, recipient, message_id, content_sha256, transport, DeliveryState::Sending.code(), now],
            )
            .map_err(self.error())?;
        Ok(self.connection.last_insert_rowid())
    }

    pub fn finish_delivery(&self, delivery: i64, state: DeliveryState, result: &str, now: &str) -> Result<(), LedgerError> {
        self.connection
            .execute("UPDATE deliveries SET state = ?2, result = ?3, at = ?4 WHERE id = ?1", params![delivery, state.code(), result, now])
            .map_err(self.error())?;
        Ok(())
    }

    pub fn finish_run(&self, run: RunId, state: &str, exit_code: i32, error: Option<&str>, now: &str) -> Result<(), LedgerError> {
        self.connection
            .execute(
                "UPDATE runs SET state = ?2, exit_code = ?3, error = ?4, finished_at = ?5 WHERE id = ?1",
                params![run, state, exit_code, error, now],
            )
            .map_err(self.error())?;
        Ok(())
    }

    fn runs_where(&self, condition: &str, values: &[&dyn rusqlite::ToSql]) -> Result<Vec<RunSummary>, LedgerError> {
        let sql = format!("SELECT id, period, job, trigger, state, exit_code, started_at, finished_at, error FROM runs {condition}");
        let mut statement = self.connection.prepare(&sql).map_err(self.error())?;
        let rows = statement
            .query_map(values, |row| {
                Ok(RunSummary {
                    id: row.get(0)?,
                    period: row.get(1)?,
                    job: row.get(2)?,
                    trigger: row.get(3)?,
                    state: row.get(4)?,
                    exit_code: row.get(5)?,
                    started_at: row.get(6)?,
                    finished_at: row.get(7)?,
                    error: row.get(8)?,
                })
            })
            .map_err(self.error())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.error())
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunSummary>, LedgerError> {
        self.runs_where("ORDER BY id DESC LIMIT ?1", &[&(limit as i64)])
    }

    /// Every run of `period`, oldest first.
    pub fn runs_of_period(&self, period: &str) -> Result<Vec<RunSummary>, LedgerError> {
        self.runs_where("WHERE period = ?1 ORDER BY id", &[&period])
    }

    /// The latest run of each job (`cli` for operators' commands), by job name.
    pub fn latest_run_per_job(&self) -> Result<Vec<RunSummary>, LedgerError> {
        self.runs_where("WHERE id IN (SELECT MAX(id) FROM runs GROUP BY job) ORDER BY job", &[])
    }

    /// The stages, inputs, problems and deliveries of the latest run, if any.
    pub fn latest_run_details(&self) -> Result<Option<RunDetails>, LedgerError> {
        match self.recent_runs(1)?.into_iter().next() {
            Some(run) => self.run_details(run).map(Some),
            None => Ok(None),
        }
    }

    /// The stages, inputs, problems and deliveries of a run.
    pub fn run_details(&self, run: RunSummary) -> Result<RunDetails, LedgerError> {
        let query = |sql: &str| -> Result<Vec<Vec<rusqlite::types::Value>>, LedgerError> {
            let mut statement = self.connection.prepare(sql).map_err(self.error())?;
            let width = statement.column_count();
            let rows = statement
                .query_map(params![run.id], |row| (0..width).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect::<Result<Vec<_>, _>>())
                .map_err(self.error())?;
            rows.collect::<Result<Vec<_>, _>>().map_err(self.error())
        };
        use rusqlite::types::Value;
        let text = |v: &Value| match v {
            Value::Text(t) => t.clone(),
            Value::Integer(i) => i.to_string(),
            _ => String::new(),
        };
        let int = |v: &Value| if let Value::Integer(i) = v { *i } else { 0 };
        let stages = query("SELECT stage, rows, duration_ms FROM stages WHERE run_id = ?1 ORDER BY rowid")?
            .iter()
            .map(|r| (text(&r[0]), int(&r[1]), int(&r[2])))
            .collect();
        let inputs = query("SELECT source, sha256, rows, set_aside, state FROM inputs WHERE run_id = ?1 ORDER BY rowid")?
            .iter()
            .map(|r| (text(&r[0]), text(&r[1]), int(&r[2]), int(&r[3]), text(&r[4])))
            .collect();
        let problems = query("SELECT level, place, message FROM problems WHERE run_id = ?1 ORDER BY rowid")?
            .iter()
            .map(|r| (text(&r[0]), text(&r[1]), text(&r[2])))
            .collect();
        let deliveries = query("SELECT recipient, state, result FROM deliveries WHERE run_id = ?1 ORDER BY id")?
            .iter()
            .map(|r| (text(&r[0]), text(&r[1]), Some(text(&r[2])).filter(|t| !t.is_empty())))
            .collect();
        Ok(RunDetails { run, stages, inputs, problems, deliveries })
    }

    /// Counts the `sent` deliveries of a period.
    pub fn sent_count(&self, period: &str) -> Result<usize, LedgerError> {
        self.connection
            .query_row("SELECT COUNT(*) FROM deliveries WHERE period = ?1 AND state = 'sent'", params![period], |row| row.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(self.error())
    }
}
