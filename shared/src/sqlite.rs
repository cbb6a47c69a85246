//! One SQLite file (WAL mode) shared by the embedded item store and the embedded queue.
//!
//! Writes go through one writer thread that commits them in groups: it takes every write
//! waiting when it wakes, runs each in its own SAVEPOINT inside one IMMEDIATE transaction (a
//! write that fails rolls back only itself), commits once, and only then answers every caller.
//! So a burst of writes pays one fsync (`synchronous=FULL`), and an acknowledged write is on
//! disk. Reads run on a pool of read connections beside the writer (WAL lets them), each
//! behind its own lock: a read takes whichever connection is free.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

/// Most writes one group commit holds; more wait for the next group.
pub const MAX_GROUP: usize = 256;
/// How long a connection waits for another process's lock (`cargo lambda invoke` beside the
/// local server) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const STATEMENT_CACHE: usize = 64;
const MMAP_BYTES: i64 = 256 * 1024 * 1024;

/// A write waiting for the writer thread.
trait WriteJob: Send {
    /// Runs the write on the writer's connection inside its savepoint; false when it failed
    /// (its savepoint is then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group is over: its own result when the group committed,
    /// else the reason the group did not.
    fn finish(self: Box<Self>, group: Result<(), &str>);
}

struct Pending<T, F> {
    work: Option<F>,
    result: Option<anyhow::Result<T>>,
    reply: oneshot::Sender<anyhow::Result<T>>,
}

impl<T, F> WriteJob for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> anyhow::Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("an embedded store write panicked")));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, group: Result<(), &str>) {
        let result = match (group, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(reason), _) => Err(anyhow::anyhow!("the write was not committed: {reason}")),
            (Ok(()), None) => Err(anyhow::anyhow!("the write did not run")),
        };
        // The caller may have gone away (its request was dropped): the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// What the writer has done since the database was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes answered (committed or not).
    pub writes: u64,
    /// Groups committed or rolled back: one transaction, one fsync each.
    pub groups: u64,
    /// Writes handed to the writer and not answered yet.
    pub waiting: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    answered: AtomicU64,
    groups: AtomicU64,
}

struct Shared {
    counters: Arc<Counters>,
    /// Dropping the last handle closes the channel, which ends the writer thread once the
    /// writes already queued are done.
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    /// Read connections; empty for an in-memory database, whose reads go through the writer.
    /// Each read connection opens on its first use (a Lambda that only writes never opens one).
    readers: Vec<Mutex<Option<Connection>>>,
    /// The file the read connections open.
    path: Option<std::path::PathBuf>,
    next_reader: AtomicUsize,
}

/// A handle on the embedded database. Cloning shares the writer and the read pool.
#[derive(Clone)]
pub struct SqliteDb {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteDb({} readers)", self.shared.readers.len())
    }
}

/// Read connections for a file: one per core (at least two, at most eight).
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8)
}

fn configure(conn: &Connection) -> anyhow::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Pages read through a memory map: no copy per read, and nothing for a read connection to
    // drop when another commits (its page cache is emptied then, so it stays at the default).
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    // Statement journals and sorts in memory: no temporary file created and removed per write.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl SqliteDb {
    /// Opens (creating) the database file; parent folders are created too.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed write survives a power cut, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The writer's cache stays valid across its own commits: 32 MB (the default is 2 MB).
        conn.pragma_update(None, "cache_size", -32_768)?;
        // Checkpoint every 64 MB of WAL rather than every 4 MB: under a write burst (a mass
        // allocation) pages changed again and again between checkpoints reach the database file
        // once, and the writer stops for a checkpoint 16 times less often. The WAL file is cut
        // back to 64 MB after each.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let readers = (0..reader_count()).map(|_| Mutex::new(None)).collect();
        Self::start(conn, readers, Some(path.to_path_buf()))
    }

    /// A private in-memory database (tests). It has no read pool: reads queue with the writes.
    pub fn in_memory() -> anyhow::Result<Self> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        Self::start(conn, Vec::new(), None)
    }

    fn start(
        conn: Connection,
        readers: Vec<Mutex<Option<Connection>>>,
        path: Option<std::path::PathBuf>,
    ) -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let writer_counters = counters.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(conn, receiver, &writer_counters))?;
        Ok(Self {
            shared: Arc::new(Shared { counters, writer: sender, readers, path, next_reader: AtomicUsize::new(0) }),
        })
    }

    /// Counts of the writer's work (benchmarks print writes per group).
    pub fn writer_stats(&self) -> WriterStats {
        let counters = &self.shared.counters;
        let answered = counters.answered.load(Ordering::Acquire);
        WriterStats {
            writes: answered,
            groups: counters.groups.load(Ordering::Acquire),
            waiting: counters.sent.load(Ordering::Acquire).saturating_sub(answered),
        }
    }

    /// Runs `f` as one atomic write, committed in a group with the writes waiting beside it.
    /// It sees every write committed or grouped before it; when it returns an error, whatever
    /// it wrote is rolled back and the error comes back as is. `Ok` means it is on disk.
    pub async fn write<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Pending { work: Some(f), result: None, reply });
        self.shared.counters.sent.fetch_add(1, Ordering::AcqRel);
        if self.shared.writer.send(job).is_err() {
            self.shared.counters.answered.fetch_add(1, Ordering::AcqRel);
            anyhow::bail!("the sqlite writer has stopped");
        }
        answer.await.map_err(|_| anyhow::anyhow!("the sqlite writer stopped before answering"))?
    }

    /// Runs `f` on a read connection. It must not write (the connection is `query_only`); it
    /// sees what was committed when it starts (wrap several statements in a transaction for
    /// one snapshot).
    pub async fn read<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let readers = &self.shared.readers;
        if readers.is_empty() {
            return self.write(f).await;
        }
        let start = self.shared.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..readers.len() {
            // A free connection answers at once, on this thread: a point read is a few
            // microseconds, less than handing it to another thread.
            if let Ok(mut slot) = readers[(start + offset) % readers.len()].try_lock() {
                return f(self.shared.reader(&mut slot)?);
            }
        }
        // Every connection is busy: wait for one off the async threads.
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut slot = shared.readers[start % shared.readers.len()]
                .lock()
                .map_err(|_| anyhow::anyhow!("sqlite read connection poisoned"))?;
            f(shared.reader(&mut slot)?)
        })
        .await?
    }
}

impl Shared {
    /// The connection of a read slot, opened now if it is the slot's first use.
    fn reader<'a>(&self, slot: &'a mut Option<Connection>) -> anyhow::Result<&'a Connection> {
        if slot.is_none() {
            let path = self.path.as_deref().ok_or_else(|| anyhow::anyhow!("no file to read"))?;
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
            )?;
            configure(&reader)?;
            reader.pragma_update(None, "query_only", true)?;
            *slot = Some(reader);
        }
        slot.as_ref().ok_or_else(|| anyhow::anyhow!("the read connection did not open"))
    }
}

/// The writer thread: one group commit per wake-up until every handle is dropped.
fn write_groups(conn: Connection, jobs: mpsc::Receiver<Box<dyn WriteJob>>, counters: &Counters) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let outcome = commit_group(&conn, &mut group);
        if outcome.is_err() {
            // Nothing of the group may stay: a failed COMMIT can leave the transaction open.
            let _ = conn.execute_batch("ROLLBACK");
        }
        let outcome = outcome.map_err(|err| format!("{err:#}"));
        // Counted before the answers, so that a caller who got one sees its write counted.
        counters.groups.fetch_add(1, Ordering::AcqRel);
        counters.answered.fetch_add(group.len() as u64, Ordering::AcqRel);
        for job in group {
            job.finish(outcome.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn WriteJob>]) -> anyhow::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in group.iter_mut() {
        conn.prepare_cached("SAVEPOINT write")?.execute([])?;
        if !job.run(conn) {
            conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
        }
        conn.prepare_cached("RELEASE write")?.execute([])?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own, removed on drop.
    struct Dir {
        path: std::path::PathBuf,
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    fn file_db() -> (Dir, SqliteDb) {
        let dir = Dir { path: std::env::temp_dir().join(format!("oms-sqlite-{}", ulid::Ulid::new())) };
        let db = SqliteDb::open(&dir.path.join("test.db")).unwrap();
        (dir, db)
    }

    async fn create_table(db: &SqliteDb) {
        db.write(|conn| Ok(conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?)).await.unwrap();
    }

    async fn rows(db: &SqliteDb) -> Vec<i64> {
        db.read(|conn| {
            let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n")?;
            let rows = stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<i64>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap()
    }

    /// Holds the writer inside a first write until `release` fires, so that what is sent
    /// meanwhile waits and forms the next group.
    async fn hold_writer(db: &SqliteDb) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = oneshot::channel();
        let holder = db.clone();
        let first = tokio::spawn(async move {
            holder
                .write(move |conn| {
                    started_tx.send(()).unwrap();
                    held.recv().unwrap();
                    conn.execute("INSERT INTO t (n) VALUES (-1)", [])?;
                    Ok(())
                })
                .await
                .unwrap();
        });
        started.await.unwrap();
        (release, first)
    }

    async fn until_waiting(db: &SqliteDb, waiting: u64) {
        while db.writer_stats().waiting < waiting {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_writes_wait_together_should_commit_them_as_one_group() {
        let (_dir, db) = file_db();
        create_table(&db).await;
        let before = db.writer_stats();
        let (release, first) = hold_writer(&db).await;
        let writes: Vec<_> = (0..63)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| Ok(conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?)).await.unwrap()
                })
            })
            .collect();
        until_waiting(&db, 64).await;
        release.send(()).unwrap();
        first.await.unwrap();
        for write in writes {
            write.await.unwrap();
        }
        let after = db.writer_stats();
        assert_eq!(after.writes - before.writes, 64);
        assert_eq!(after.groups - before.groups, 2, "the held write alone, then the 63 that waited");
        assert_eq!(rows(&db).await.len(), 64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_one_write_of_a_group_fails_should_roll_back_only_that_write() {
        let (_dir, db) = file_db();
        create_table(&db).await;
        let (release, first) = hold_writer(&db).await;
        let writes: Vec<_> = (0..20)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| {
                        conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        // Odd writes fail after writing: nothing of theirs may stay.
                        anyhow::ensure!(n % 2 == 0, "write {n} refused");
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        until_waiting(&db, 21).await;
        release.send(()).unwrap();
        first.await.unwrap();
        for (n, write) in writes.into_iter().enumerate() {
            let result = write.await.unwrap();
            assert_eq!(result.is_ok(), n % 2 == 0, "write {n}: {result:?}");
        }
        let mut expected: Vec<i64> = (0..20).filter(|n| n % 2 == 0).collect();
        expected.insert(0, -1);
        assert_eq!(rows(&db).await, expected);
    }

    #[tokio::test]
    async fn when_a_write_panics_should_answer_an_error_and_keep_writing() {
        let (_dir, db) = file_db();
        create_table(&db).await;
        let panicked = db.write(|_conn| -> anyhow::Result<()> { panic!("a bug in a write") }).await;
        assert!(panicked.unwrap_err().to_string().contains("panicked"));
        db.write(|conn| Ok(conn.execute("INSERT INTO t (n) VALUES (7)", [])?)).await.unwrap();
        assert_eq!(rows(&db).await, vec![7]);
    }

    #[tokio::test]
    async fn when_a_write_is_answered_a_read_and_a_reopened_database_should_see_it() {
        let (dir, db) = file_db();
        create_table(&db).await;
        db.write(|conn| Ok(conn.execute("INSERT INTO t (n) VALUES (1)", [])?)).await.unwrap();
        assert_eq!(rows(&db).await, vec![1]);
        drop(db);
        let reopened = SqliteDb::open(&dir.path.join("test.db")).unwrap();
        assert_eq!(rows(&reopened).await, vec![1]);
    }

    #[tokio::test]
    async fn when_a_read_tries_to_write_should_refuse_it() {
        let (_dir, db) = file_db();
        create_table(&db).await;
        let refused = db.read(|conn| Ok(conn.execute("INSERT INTO t (n) VALUES (1)", [])?)).await;
        assert!(refused.is_err());
        assert!(rows(&db).await.is_empty());
    }
}
