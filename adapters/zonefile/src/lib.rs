//! Zone-file directory adapter: dc-gateway's embedded default backend.
//!
//! The backend is a directory of RFC 1035 master files, one per zone, each named after its
//! zone without the trailing dot plus `.zone` (`example.com.zone` holds `example.com.`).
//! [`ZoneFileAdapter`] reads and rewrites those files; a name server (Knot, BIND, NSD, ...)
//! serves them, and [`ZoneFileOptions::reload_command`] tells it to reload after each write.
//!
//! * **Atomic writes.** A change set is applied to the parsed zone in memory, the whole file
//!   is written to a temporary file in the same directory, fsynced, and renamed over the old
//!   one (then the directory is fsynced). Readers see the old file or the new one, never a
//!   mix. A crash may leave a `.<zone>.zone.tmp-*` file behind, never a torn zone file.
//! * **Locking.** Per zone, an in-process `tokio` mutex plus an advisory `flock` on a lock
//!   file `.<zone>.zone.lock` in the same directory. The read-check-write of the preconditions
//!   happens under both, so two adapter instances (or processes) on one directory never
//!   interleave. Other programs writing the files must take the same lock to be excluded.
//! * **Serial.** Every write bumps the SOA serial ([`SerialPolicy`]).
//! * **Defense in depth.** A change that would leave a CNAME beside other data, or delete or
//!   duplicate the apex SOA, is [`AdapterError::Rejected`]; so is data that does not parse.
//!
//! The [`master`] module holds the master-file parser and writer, also used by the gateway's
//! `plan --zone FILE` command.

pub mod master;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use dcgw_adapter::{
    Adapter, AdapterError, Atomicity, Capabilities, ChangeSet, Expect, RRset, ReadFilter, Record,
    RecordTypes, absolute, group_rrsets, in_zone,
};

/// Where the adapter gets the current time from (for date-based SOA serials). Tests inject
/// a fixed clock; the default is the system clock.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(SystemTime::now))
    }

    /// A clock that always says `t`.
    pub fn fixed(t: SystemTime) -> Clock {
        Clock(Arc::new(move || t))
    }

    /// A clock backed by any function.
    pub fn from_fn(f: impl Fn() -> SystemTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// How the SOA serial changes on each write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerialPolicy {
    /// `YYYYMMDDnn` (UTC): today's `YYYYMMDD00` when the current serial is below it, else the
    /// current serial + 1.
    #[default]
    Date,
    /// The current serial + 1 (modulo 2^32, skipping 0).
    Increment,
    /// Leave the serial alone (the name server manages it).
    Keep,
}

/// Options of a [`ZoneFileAdapter`].
#[derive(Clone, Debug)]
pub struct ZoneFileOptions {
    /// A command run after each successful write, as argv (no shell), with `{zone}` in any
    /// argument replaced by the zone name without the trailing dot, e.g.
    /// `["knotc", "zone-reload", "{zone}"]`. If it fails (cannot start, exits non-zero or
    /// outlives [`reload_timeout`](Self::reload_timeout)), `apply` returns
    /// [`AdapterError::Transient`] with its stderr — **but the zone file has already been
    /// written**: the change is in the file and only the reload is missing. A retry of the same
    /// change set will normally fail its preconditions (the data changed); the next successful
    /// write reloads the zone anyway.
    pub reload_command: Option<Vec<String>>,
    /// How long the reload command may run before it is killed and counted as failed.
    pub reload_timeout: Duration,
    /// How the SOA serial is bumped on each write.
    pub serial: SerialPolicy,
    /// The time source for [`SerialPolicy::Date`].
    pub clock: Clock,
}

impl Default for ZoneFileOptions {
    fn default() -> Self {
        ZoneFileOptions {
            reload_command: None,
            reload_timeout: Duration::from_secs(60),
            serial: SerialPolicy::Date,
            clock: Clock::system(),
        }
    }
}

/// The zone-file directory adapter. See the [crate docs](crate).
#[derive(Debug)]
pub struct ZoneFileAdapter {
    dir: PathBuf,
    options: ZoneFileOptions,
    caps: Capabilities,
    locks: dcgw_adapter::ZoneLocks,
}

impl ZoneFileAdapter {
    /// An adapter on the zone files in `dir`. Fails when `dir` is not a readable directory.
    pub fn new(dir: impl Into<PathBuf>, options: ZoneFileOptions) -> io::Result<ZoneFileAdapter> {
        let dir = dir.into();
        if !fs::metadata(&dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(ZoneFileAdapter {
            dir,
            options,
            caps: Capabilities {
                atomicity: Atomicity::Atomic,
                preconditions: true,
                record_types: RecordTypes::Any,
                apex_alias: None,
                max_batch: None,
            },
            locks: dcgw_adapter::ZoneLocks::default(),
        })
    }

    /// The directory holding the zone files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `zone` (absolute), whether or not it exists. `None` for a name that
    /// cannot be a file name (a `/`, a NUL, a leading dot, the root).
    pub fn zone_path(&self, zone: &str) -> Option<PathBuf> {
        zone_file_name(zone).map(|f| self.dir.join(f))
    }

    /// The path of an existing zone file for `zone`, or ZoneNotFound.
    fn existing_zone(&self, zone: &str) -> Result<(String, PathBuf), AdapterError> {
        let zone = absolute(zone);
        match self.zone_path(&zone) {
            Some(p) if p.is_file() => Ok((zone, p)),
            _ => Err(AdapterError::ZoneNotFound(zone)),
        }
    }

    async fn run_reload(&self, zone: &str) -> Result<(), AdapterError> {
        let Some(argv) = &self.options.reload_command else {
            return Ok(());
        };
        let name = zone.strip_suffix('.').unwrap_or(zone);
        let argv: Vec<String> = argv.iter().map(|a| a.replace("{zone}", name)).collect();
        let Some((prog, args)) = argv.split_first() else {
            return Ok(());
        };
        let shown = argv.join(" ");
        let child = tokio::process::Command::new(prog)
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(self.options.reload_timeout, child).await {
            Err(_) => {
                return Err(AdapterError::Transient(format!(
                    "zone {zone} written, but the reload command `{shown}` timed out after {:?}",
                    self.options.reload_timeout
                )));
            }
            Ok(Err(e)) => {
                return Err(AdapterError::Transient(format!(
                    "zone {zone} written, but the reload command `{shown}` could not run: {e}"
                )));
            }
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            return Ok(());
        }
        Err(AdapterError::Transient(format!(
            "zone {zone} written, but the reload command `{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// `<zone without trailing dot>.zone`, or None for names that are unsafe as file names.
fn zone_file_name(zone: &str) -> Option<String> {
    let z = zone.strip_suffix('.').unwrap_or(zone);
    if z.is_empty() || z.starts_with('.') || z.contains(['/', '\\', '\0']) || z.contains("..") {
        return None;
    }
    Some(format!("{z}.zone"))
}

fn blocking_err(e: tokio::task::JoinError) -> AdapterError {
    AdapterError::Transient(format!("zone-file worker failed: {e}"))
}

fn io_err(path: &Path, what: &str, e: io::Error) -> AdapterError {
    AdapterError::Transient(format!("{what} {}: {e}", path.display()))
}

/// Reads and parses a zone file. A file that does not parse is reported as Transient: the
/// request is not at fault, and it may pass once an operator repairs the file.
fn load(path: &Path, zone: &str) -> Result<Vec<Record>, AdapterError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(AdapterError::ZoneNotFound(zone.to_string()));
        }
        Err(e) => return Err(io_err(path, "cannot read zone file", e)),
    };
    master::parse(&text, zone)
        .map_err(|e| AdapterError::Transient(format!("zone file {} does not parse: {e}", path.display())))
}

/// Holds the advisory lock on a zone's lock file until dropped.
struct FileLock(File);

impl FileLock {
    fn acquire(zone_path: &Path) -> Result<FileLock, AdapterError> {
        let mut name = zone_path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let mut lock_name = std::ffi::OsString::from(".");
        lock_name.push(name);
        let lock_path = zone_path.with_file_name(lock_name);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, "cannot open lock file", e))?;
        f.lock().map_err(|e| io_err(&lock_path, "cannot lock", e))?;
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `text` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// of the directory. The new file keeps the old one's permissions.
fn atomic_write(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(
        ".{base}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        if let Ok(meta) = fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The next SOA serial under `policy` for a zone whose serial is `current`, at time `now`.
pub fn next_serial(policy: SerialPolicy, current: u32, now: SystemTime) -> u32 {
    let inc = |s: u32| match s.wrapping_add(1) {
        0 => 1,
        n => n,
    };
    match policy {
        SerialPolicy::Keep => current,
        SerialPolicy::Increment => inc(current),
        SerialPolicy::Date => {
            let secs = match now.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            };
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let base = (y as u64) * 1_000_000 + u64::from(m) * 10_000 + u64::from(d) * 100;
            match u32::try_from(base) {
                Ok(base) if current < base => base,
                _ => inc(current),
            }
        }
    }
}

/// Replaces the serial (third field) of SOA data.
fn with_serial(soa: &str, serial: u32) -> String {
    let mut f: Vec<&str> = soa.split_whitespace().collect();
    let s = serial.to_string();
    if f.len() == 7 {
        f[2] = &s;
    }
    f.join(" ")
}

fn soa_serial(soa: &str) -> Option<u32> {
    soa.split_whitespace().nth(2)?.parse().ok()
}

type Key = (String, String);

/// Checks the zone's invariants after a change: exactly one apex SOA, no CNAME beside other
/// data at an owner.
fn check_invariants(zone: &str, sets: &BTreeMap<Key, RRset>) -> Result<(), AdapterError> {
    match sets.get(&(zone.to_string(), "SOA".to_string())) {
        Some(s) if s.data.len() == 1 => {}
        Some(_) => {
            return Err(AdapterError::Rejected(format!(
                "{zone} must hold exactly one SOA record"
            )));
        }
        None => {
            return Err(AdapterError::Rejected(format!(
                "the change would leave {zone} without its SOA record"
            )));
        }
    }
    let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, rtype) in sets.keys() {
        by_owner.entry(name).or_default().push(rtype);
    }
    for (owner, types) in by_owner {
        if types.contains(&"CNAME") {
            let others: Vec<&str> = types
                .iter()
                .copied()
                .filter(|t| !matches!(*t, "CNAME" | "RRSIG" | "NSEC" | "NSEC3"))
                .collect();
            if !others.is_empty() {
                return Err(AdapterError::Rejected(format!(
                    "{owner} would hold a CNAME beside other data ({})",
                    others.join(", ")
                )));
            }
            if sets
                .get(&(owner.to_string(), "CNAME".to_string()))
                .is_some_and(|s| s.data.len() > 1)
            {
                return Err(AdapterError::Rejected(format!(
                    "{owner} would hold more than one CNAME"
                )));
            }
        }
    }
    Ok(())
}

fn reject(msg: String) -> AdapterError {
    AdapterError::Rejected(msg)
}

fn canonical_list(rtype: &str, data: &[String], zone: &str, name: &str) -> Result<Vec<String>, AdapterError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for d in data {
        let c = master::canonical_data(rtype, d, zone)
            .map_err(|e| reject(format!("{name} {rtype} data {d:?}: {e}")))?;
        if seen.insert(c.clone()) {
            out.push(c);
        }
    }
    Ok(out)
}

/// The read-check-write of one change set, run with the zone locked. Returns whether the file
/// was written.
fn apply_locked(
    path: &Path,
    changes: &ChangeSet,
    zone: &str,
    policy: SerialPolicy,
    now: SystemTime,
) -> Result<bool, AdapterError> {
    let current = load(path, zone)?;
    let mut sets: BTreeMap<Key, RRset> = group_rrsets(current)
        .into_iter()
        .map(|s| ((s.name.clone(), s.rtype.clone()), s))
        .collect();
    let before = sets.clone();

    // Normalise and validate every change before checking or touching anything.
    let mut planned: Vec<(Key, Expect, Option<RRset>)> = Vec::with_capacity(changes.changes.len());
    let mut keys = BTreeSet::new();
    for c in &changes.changes {
        let name = absolute(&c.name);
        let rtype = c.rtype.trim().to_ascii_uppercase();
        if !in_zone(&name, zone) {
            return Err(reject(format!("{name} is not in the zone {zone}")));
        }
        if !master::is_type(&rtype) {
            return Err(reject(format!("{name}: unknown record type {:?}", c.rtype)));
        }
        if !keys.insert((name.clone(), rtype.clone())) {
            return Err(reject(format!(
                "{name} {rtype} is changed twice in one change set"
            )));
        }
        let expect = match &c.expect {
            Expect::Exactly(d) => Expect::Exactly(canonical_list(&rtype, d, zone, &name)?),
            other => other.clone(),
        };
        let new = match &c.new {
            None => None,
            Some(n) => {
                if absolute(&n.name) != name || !n.rtype.eq_ignore_ascii_case(&rtype) {
                    return Err(reject(format!(
                        "change for {name} {rtype} carries an RRset for {} {}",
                        n.name, n.rtype
                    )));
                }
                if u64::from(n.ttl) > (1 << 31) - 1 {
                    return Err(reject(format!("{name} {rtype}: TTL {} is above 2^31-1", n.ttl)));
                }
                let data = canonical_list(&rtype, &n.data, zone, &name)?;
                (!data.is_empty()).then(|| RRset::new(name.clone(), rtype.clone(), n.ttl, data))
            }
        };
        planned.push(((name, rtype), expect, new));
    }

    // Every precondition against the zone as it is now.
    for (key, expect, _) in &planned {
        if !expect.matches(sets.get(key)) {
            return Err(AdapterError::PreconditionFailed {
                name: key.0.clone(),
                rtype: key.1.clone(),
            });
        }
    }

    let old_serial = sets
        .get(&(zone.to_string(), "SOA".to_string()))
        .and_then(|s| s.data.first())
        .and_then(|d| soa_serial(d));
    for (key, _, new) in planned {
        match new {
            Some(set) => sets.insert(key, set),
            None => sets.remove(&key),
        };
    }
    check_invariants(zone, &sets)?;
    if sets == before {
        return Ok(false);
    }

    // Bump the serial, unless the change set itself moved it forward.
    let soa_key = (zone.to_string(), "SOA".to_string());
    if let (Some(old), Some(soa)) = (old_serial, sets.get_mut(&soa_key)) {
        let data = soa.data[0].clone();
        let set_by_change = soa_serial(&data).is_some_and(|s| s != old && s.wrapping_sub(old) < (1 << 31));
        if !set_by_change {
            soa.data[0] = with_serial(&data, next_serial(policy, old, now));
        }
    }

    let records: Vec<Record> = sets.values().flat_map(RRset::records).collect();
    let text = master::write(zone, &records);
    // Defense in depth: what we write must read back as exactly what we meant.
    let mut back =
        master::parse(&text, zone).map_err(|e| reject(format!("the new zone text would not parse: {e}")))?;
    let mut want = records;
    back.sort();
    want.sort();
    if back != want {
        return Err(reject("the new zone text would not read back as written".into()));
    }
    atomic_write(path, &text).map_err(|e| io_err(path, "cannot write zone file", e))?;
    Ok(true)
}

#[async_trait]
impl Adapter for ZoneFileAdapter {
    fn kind(&self) -> &'static str {
        "zonefile"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let name = absolute(name);
        for candidate in dcgw_adapter::zone_candidates(&name) {
            if let Some(p) = self.zone_path(candidate) {
                let exists = tokio::fs::metadata(&p)
                    .await
                    .map(|m| m.is_file())
                    .unwrap_or(false);
                if exists {
                    return Ok(Some(candidate.to_string()));
                }
            }
        }
        Ok(None)
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        let (zone, path) = self.existing_zone(zone)?;
        let z = zone.clone();
        let records = tokio::task::spawn_blocking(move || load(&path, &z))
            .await
            .map_err(blocking_err)??;
        Ok(group_rrsets(
            records.into_iter().filter(|r| filter.wants(&r.name)),
        ))
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        let (zone, path) = self.existing_zone(&changes.zone)?;
        let guard = self.locks.lock(&zone).await;
        let policy = self.options.serial;
        let now = self.options.clock.now();
        let cs = changes.clone();
        let z = zone.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let _flock = FileLock::acquire(&path)?;
            apply_locked(&path, &cs, &z, policy, now)
        })
        .await
        .map_err(blocking_err)??;
        if written {
            // Reloads run one at a time per zone, in the order of the writes.
            let _guard = self.locks.lock(&zone).await;
            self.run_reload(&zone).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn serial_policies() {
        let t = UNIX_EPOCH + Duration::from_secs(20_416 * 86_400 + 3600);
        assert_eq!(next_serial(SerialPolicy::Date, 1, t), 2025112400);
        assert_eq!(next_serial(SerialPolicy::Date, 2025112400, t), 2025112401);
        assert_eq!(next_serial(SerialPolicy::Date, 2025112499, t), 2025112500);
        assert_eq!(next_serial(SerialPolicy::Date, 2030010100, t), 2030010101);
        assert_eq!(next_serial(SerialPolicy::Increment, 7, t), 8);
        assert_eq!(next_serial(SerialPolicy::Increment, u32::MAX, t), 1);
        assert_eq!(next_serial(SerialPolicy::Keep, 7, t), 7);
    }

    #[test]
    fn zone_file_names_are_safe() {
        assert_eq!(zone_file_name("example.com."), Some("example.com.zone".into()));
        assert_eq!(zone_file_name("."), None);
        assert_eq!(zone_file_name("../etc."), None);
        assert_eq!(zone_file_name("a/b."), None);
    }
}
