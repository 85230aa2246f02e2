"""Database: one peewee DatabaseProxy, SQLite by default, PostgreSQL by URL; per-plugin migrations."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
import time
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as url_connect
from playhouse.db_url import register_database
from playhouse.migrate import SchemaMigrator
from playhouse.pool import PooledPostgresqlDatabase

db = peewee.DatabaseProxy()
log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    """Naive UTC now: stored the same way on SQLite and PostgreSQL."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


def open_database(
    url: str, data_dir: str, max_connections: int = 20, pool_timeout: int = 10
) -> peewee.Database:
    """Build the Database for `url` (empty: SQLite file under data_dir)."""
    if not url:
        path = Path(data_dir) / "mediaplane.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path.resolve()}"
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        # WAL lets readers work while one writer commits; busy_timeout waits instead of failing
        # when several web or worker processes write at once. A plain sqlite:// URL opens
        # OneWriterPerProcessSqlite (registered below as sqlite+writers), which keeps the writers of
        # one gevent worker from blocking each other inside that wait.
        return url_connect(
            url.replace("sqlite", "sqlite+writers", 1) if scheme == "sqlite" else url,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 10000,
                "synchronous": "normal",
            },
        )
    if scheme in ("postgres", "postgresql"):
        # A pool per process: opening a PostgreSQL connection costs milliseconds on every request.
        parsed = urlparse(url)
        kwargs = {}
        if parsed.query:
            from urllib.parse import parse_qsl

            kwargs.update(dict(parse_qsl(parsed.query)))
        return RecentlyCheckedPool(
            parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
            max_connections=max_connections,
            timeout=pool_timeout,
            stale_timeout=300,
            **kwargs,
        )
    return url_connect(url)


class RecentlyCheckedPool(PooledPostgresqlDatabase):
    """A PostgreSQL pool that skips the liveness round trip for connections used moments ago, and
    survives connections that died in the pool (a server restart, `pg_terminate_backend`).

    peewee checks every pooled connection it hands out with SELECT 1: one extra round trip per
    request. A connection handed back less than RECHECK_AFTER_SECONDS ago, idle and not closed,
    is trusted; older ones are still checked.

    A trusted connection may have died meanwhile. A statement that finds its connection lost is run
    again once on a new connection when that cannot repeat a write: no transaction is open and it is
    the first statement of this checkout (the server was gone before it was sent) or a SELECT.
    Otherwise the error stands (the app answers 503 and the client retries). Either way, every idle
    connection is checked with a round trip at its next checkout: a restart kills them all.
    """

    RECHECK_AFTER_SECONDS = 5.0

    def __init__(self, *args, **kwargs):
        self._returned_at: dict[int, float] = {}
        self._unused: set[int] = set()  # checked out, no statement sent yet
        self._suspect_before = 0.0  # connections returned before this are checked at checkout
        super().__init__(*args, **kwargs)

    def _is_closed(self, conn):
        if conn.closed:
            return True
        returned = self._returned_at.get(id(conn))
        recent = (
            returned is not None
            and returned > self._suspect_before
            and time.monotonic() - returned < self.RECHECK_AFTER_SECONDS
        )
        if recent and self._adapter.txn_status(conn) == self._adapter.txn_idle:
            return False
        return super()._is_closed(conn)  # checks with a round trip; rolls back a dirty one

    def _connect(self):
        conn = super()._connect()
        self._unused.add(id(conn))
        return conn

    def _close(self, conn, close_conn=False):
        self._unused.discard(id(conn))
        if close_conn:
            self._returned_at.pop(id(conn), None)
        else:
            self._returned_at[id(conn)] = time.monotonic()
        return super()._close(conn, close_conn)

    def _lost(self) -> bool:
        """The current connection is broken (the server ended it)."""
        conn = self._state.conn
        if conn is None:
            return False
        return bool(conn.closed) or self._adapter.txn_status(conn) == self._adapter.txn_unknown

    def _replace_lost_connection(self) -> None:
        self._suspect_before = time.monotonic()
        log.warning("database connection lost; retrying once on a new connection")
        dead = self._state.conn
        self.manual_close()  # dropped from the pool, not returned to it
        self._returned_at.pop(id(dead), None)

    def execute_sql(self, sql, params=None):
        if not self.in_transaction() and self._lost():
            # Found dead by an earlier statement of this request (which then failed): later ones,
            # such as undoing what the request did, get a new connection.
            self._replace_lost_connection()
        conn = self._state.conn
        first = conn is None or id(conn) in self._unused
        try:
            cursor = super().execute_sql(sql, params)
        except (peewee.OperationalError, peewee.InterfaceError):
            if not self._lost():
                raise
            self._suspect_before = time.monotonic()
            safe = not self.in_transaction() and (first or sql.lstrip()[:6].upper() == "SELECT")
            if not safe:
                raise  # earlier statements of the transaction, or this write, may be lost: 503
            self._replace_lost_connection()
            cursor = super().execute_sql(sql, params)
        self._unused.discard(id(self._state.conn))
        return cursor

    def begin(self, *args, **kwargs):
        # BEGIN is the first statement of a transaction: nothing of it was written yet.
        if self.transaction_depth() == 0 and self._lost():
            self._replace_lost_connection()
        try:
            return super().begin(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError):
            if not self._lost() or self.transaction_depth() > 0:
                raise
            self._replace_lost_connection()
            return super().begin(*args, **kwargs)


class OneWriterPerProcessSqlite(peewee.SqliteDatabase):
    """SQLite whose writers within one process take turns on a lock that greenlets can wait on.

    SQLite's busy_timeout waits inside C, holding the OS thread. Under gevent every request of a
    worker shares that thread: a request that begins a write while another greenlet of the same
    worker holds the write lock (its transaction paused on Redis, LiveKit or a socket) would block
    the whole worker, so the holder could never commit, until busy_timeout ends it with "database is
    locked". Taking this lock first turns that into an ordinary greenlet wait. Writers in other
    processes still meet through busy_timeout: they run on their own threads and do commit.

    The lock is held from BEGIN to COMMIT/ROLLBACK, and around each write run outside a transaction.
    """

    def __init__(self, *args, **kwargs):
        self._writer_lock = None
        super().__init__(*args, **kwargs)

    def _writers(self):
        # Made on first use, in the worker: after gevent has patched threading there.
        if self._writer_lock is None:
            self._writer_lock = _reentrant_lock()
        return self._writer_lock

    def begin(self, lock_type=None):
        lock = self._writers()
        lock.acquire()
        try:
            super().begin(lock_type)
        except BaseException:
            lock.release()
            raise
        self._state.holds_writer_lock = True

    def commit(self):
        try:
            return super().commit()
        finally:
            self._release_if_held()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self._release_if_held()

    def _release_if_held(self):
        if getattr(self._state, "holds_writer_lock", False):
            self._state.holds_writer_lock = False
            self._writers().release()

    def execute_sql(self, sql, params=None):
        if self.in_transaction() or sql.lstrip()[:6].upper() in ("SELECT", "PRAGMA"):
            return super().execute_sql(sql, params)
        with self._writers():  # a write in autocommit takes the file's write lock for its duration
            return super().execute_sql(sql, params)


def _reentrant_lock():
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        monkey = None
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent.lock import RLock

        return RLock()
    import threading

    return threading.RLock()


register_database(OneWriterPerProcessSqlite, "sqlite+writers")


def _connection_per_greenlet(database: peewee.Database) -> None:
    """Under gevent, keep one connection per greenlet, not per OS thread.

    peewee's connection state subclasses threading.local as it was when peewee was imported; the
    gunicorn master imports peewee before the gevent worker patches threading, so without this all
    requests of a worker would share one connection ("Connection already opened").
    """
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return
    if monkey.is_module_patched("threading"):
        from gevent.local import local

        class GreenletConnectionState(peewee._ConnectionState, local):
            pass

        database._state = GreenletConnectionState()


def write_atomic():
    """A transaction that will write. On SQLite it takes the write lock at BEGIN (IMMEDIATE): a
    deferred one that reads first cannot wait for the lock later and fails with "database is locked"."""
    if isinstance(db.obj, peewee.SqliteDatabase):
        return db.atomic(lock_type="IMMEDIATE")
    return db.atomic()


def bind(database: peewee.Database) -> None:
    _connection_per_greenlet(database)
    db.initialize(database)


class Migration(BaseModel):
    """One applied migration of one plugin ("core" for the core's own)."""

    plugin = peewee.CharField(max_length=64)
    name = peewee.CharField(max_length=128)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "core_migration"
        indexes = ((("plugin", "name"), True),)


def migration_modules(package: ModuleType) -> list[tuple[str, ModuleType]]:
    names = sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg and m.name[0].isdigit()
    )
    return [(name, importlib.import_module(f"{package.__name__}.{name}")) for name in names]


def migrate(packages: list[tuple[str, ModuleType]]) -> list[str]:
    """Apply pending migrations of each (owner, package) in order; returns "owner:name" applied.

    Each migration runs in its own transaction with its history row, so a failure leaves the
    database at the last migration that completed.
    """
    database = db.obj
    with database.connection_context():
        database.create_tables([Migration], safe=True)
        migrator = SchemaMigrator.from_database(database)
        applied = []
        for owner, package in packages:
            done = {m.name for m in Migration.select(Migration.name).where(Migration.plugin == owner)}
            for name, module in migration_modules(package):
                if name in done:
                    continue
                with database.atomic():
                    module.up(migrator, database)
                    Migration.create(plugin=owner, name=name)
                log.info("applied migration %s:%s", owner, name)
                applied.append(f"{owner}:{name}")
        return applied


def pending(packages: list[tuple[str, ModuleType]]) -> list[str]:
    database = db.obj
    with database.connection_context():
        if not database.table_exists(Migration._meta.table_name):
            return [f"{o}:{n}" for o, p in packages for n, _ in migration_modules(p)]
        out = []
        for owner, package in packages:
            done = {m.name for m in Migration.select(Migration.name).where(Migration.plugin == owner)}
            out += [f"{owner}:{n}" for n, _ in migration_modules(package) if n not in done]
        return out
