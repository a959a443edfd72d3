"""Numbered schema migrations, applied at start: one history for both engines.

``MIGRATIONS[n - 1]`` moves the schema from version ``n - 1`` to ``n``. Never edit a migration
that has shipped: append a new one. Each runs in its own transaction together with the
version bump, so a crash leaves the database at a whole version.

SQLite keeps the version in ``PRAGMA user_version``; PostgreSQL in the one-row table
``schema_version``. A script whose SQL PostgreSQL does not take has its PostgreSQL text
beside it (``POSTGRES_VARIANTS``); the others run unchanged on both. The PostgreSQL schema
uses BIGINT wherever SQLite says INTEGER (Telegram ids and unix times need 64 bits) and
identity columns for SQLite's integer primary keys that number themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.sqlite import Connection

if TYPE_CHECKING:
    import asyncpg

_V1 = """
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,            -- Telegram user id
    username        TEXT,
    first_name      TEXT NOT NULL DEFAULT '',
    last_name       TEXT,
    language_code   TEXT,
    is_banned       INTEGER NOT NULL DEFAULT 0,
    blocked_bot     INTEGER NOT NULL DEFAULT 0,     -- sends fail with 403: bot blocked
    chat_model      TEXT,                           -- NULL: the operator's CHAT_MODEL
    image_settings  TEXT NOT NULL DEFAULT '{}',     -- JSON: model, sampler, size, steps…
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- The paid (or granted, or trial) tier of a user; no row or an expired row means Free.
CREATE TABLE user_tiers (
    user_id          INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tier             TEXT NOT NULL CHECK (tier IN ('free', 'tier1', 'tier2')),
    expires_at       INTEGER,                       -- unix seconds; NULL = never
    source           TEXT NOT NULL,                 -- payment | trial | grant
    trial_taken_at   INTEGER,                       -- last free trial start
    reminded_at      INTEGER,                       -- expiry reminder sent for this period
    updated_at       INTEGER NOT NULL
);

-- One key per user; only a SHA-256 hash and a display prefix are stored.
CREATE TABLE api_keys (
    user_id          INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_hash         TEXT NOT NULL UNIQUE,
    prefix           TEXT NOT NULL,
    is_active        INTEGER NOT NULL DEFAULT 1,
    inactive_reason  TEXT,                          -- left_channel | banned | revoked
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    checked_at       INTEGER                        -- last channel membership check
);

-- Invoices this bot issued: a payload is only accepted if its nonce is here.
CREATE TABLE invoices (
    nonce            TEXT PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tier             TEXT NOT NULL,
    days             INTEGER NOT NULL,
    amount           INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

-- Payments, keyed by telegram_payment_charge_id: recorded before anything else.
CREATE TABLE payments (
    charge_id           TEXT PRIMARY KEY,
    provider_charge_id  TEXT,
    user_id             INTEGER NOT NULL REFERENCES users(id),
    tier                TEXT NOT NULL,
    days                INTEGER NOT NULL,
    amount              INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    payload             TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'received', -- received | credited | refunded
    created_at          INTEGER NOT NULL,
    credited_at         INTEGER,
    refunded_at         INTEGER
);
CREATE INDEX payments_user ON payments(user_id);

-- Requests per user, UTC day and kind. Spent by one statement that checks and increments.
CREATE TABLE usage_daily (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day      TEXT NOT NULL,                          -- YYYY-MM-DD (UTC)
    kind     TEXT NOT NULL,                          -- chat | image | gif
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (user_id, day, kind)
) WITHOUT ROWID;

-- Conversation memory. scope: a private chat's user id or a group's chat id.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    scope       INTEGER NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content     TEXT NOT NULL,                       -- plain text, or JSON for content lists
    model       TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX messages_scope ON messages(scope, id);

-- Admin broadcasts, resumable after a restart.
CREATE TABLE broadcasts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'running',     -- running | done
    last_user   INTEGER NOT NULL DEFAULT 0,          -- users are sent in id order
    sent        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);
"""


# Quota units spent for work still in progress (an answer, a generation). The row goes when
# the work ends (delivered: kept; failed: given back); one left behind by a killed process is
# given back at the next start and its user told (bot.services.recovery).
_V2 = """
CREATE TABLE quota_holds (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id     INTEGER,                              -- where to tell the user
    day         TEXT NOT NULL,                        -- the usage_daily day it was spent on
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
"""


# Telegram Stars subscriptions (monthly plans that renew themselves). A subscription is known
# by its invoice payload: Telegram's ``subscription`` updates name only the user and the
# payload; each renewal arrives as a successful payment with the same payload and a new
# charge id. ``charge_id`` is the first payment's, which editUserStarSubscription takes.
_V3_STAR_SUBSCRIPTIONS = """
ALTER TABLE invoices ADD COLUMN subscription INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN recurring INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN period_end INTEGER;   -- subscription_expiration_date
CREATE TABLE star_subscriptions (
    payload             TEXT PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tier                TEXT NOT NULL,
    amount              INTEGER NOT NULL,                -- Stars per period
    charge_id           TEXT NOT NULL,
    state               TEXT NOT NULL,   -- active | canceling | canceled | failed
    canceled_by         TEXT,            -- user | bot | switch | refund
    period_end          INTEGER NOT NULL,                -- the paid period ends (or renews)
    bonus               INTEGER NOT NULL DEFAULT 0,      -- paid time carried in, seconds
    failure_told_at     INTEGER,                         -- the user was told of a failure
    canceled_at         INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX star_subscriptions_user ON star_subscriptions(user_id, state);
"""


# Indexes for the whole-table questions (admin statistics, the expiry reminders, the key
# re-check, pre-checkout, retention), each checked with EXPLAIN QUERY PLAN on a million-user
# database (``python -m bench.scale``):
# * usage_daily by day: /stats sums today's rows; retention deletes the old days. The table
#   has no rowid, so the index also carries (user_id, day, kind) and covers both queries.
# * user_tiers by expiry: the reminder query and /stats' tiers in force.
# * api_keys by last check, only for keys that follow the channel: the re-check takes the
#   oldest first and sleeps until it is due, one index step each. A key never checked gets 0
#   (oldest of all) so the index holds a range with no NULLs to step around.
# * payments by payload: pre-checkout's "already paid?" and retention's "never paid?".
# * invoices by creation time: retention's scan for invoices never paid.
# * users by (is_banned, blocked_bot): /stats' counts and a broadcast's recipients read this
#   small index instead of every users row; api_keys by is_active: /stats' active keys.
# Statistics for the planner are refreshed by Database.maintain() (a bounded ANALYZE).
_V4_INDEXES = """
CREATE INDEX usage_daily_day ON usage_daily(day, kind, used);
CREATE INDEX user_tiers_expires ON user_tiers(expires_at) WHERE expires_at IS NOT NULL;
UPDATE api_keys SET checked_at = 0 WHERE checked_at IS NULL;
CREATE INDEX api_keys_recheck ON api_keys(checked_at)
    WHERE is_active = 1 OR inactive_reason = 'left_channel';
CREATE INDEX payments_payload ON payments(payload);
CREATE INDEX invoices_created ON invoices(created_at);
CREATE INDEX users_flags ON users(is_banned, blocked_bot);
CREATE INDEX api_keys_active ON api_keys(is_active);
"""


# Conversations: memory is kept per chat *and* thread (a topic of a private chat with topics,
# or of a forum group; 0 = no topic), and each conversation remembers its name, model and
# persona. What was stored before becomes each scope's conversation 0, nothing dropped.
# Self-contained: it names no index another migration may have made or dropped.
_V5_CONVERSATIONS = """
ALTER TABLE messages ADD COLUMN thread_id INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS messages_scope;
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(scope, thread_id, id);
CREATE TABLE conversations (
    scope         INTEGER NOT NULL,                 -- as messages.scope
    thread_id     INTEGER NOT NULL DEFAULT 0,       -- as messages.thread_id
    title         TEXT,                             -- the topic's name, if known
    named         INTEGER NOT NULL DEFAULT 1,       -- 0: opened by /new, to be named
    model         TEXT,                             -- NULL: the user's /model choice
    persona       TEXT,                             -- NULL: the first persona
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, thread_id)
) WITHOUT ROWID;
INSERT INTO conversations (scope, thread_id, created_at, last_used_at)
    SELECT scope, 0, MIN(created_at), MAX(created_at) FROM messages GROUP BY scope;
"""


# -- PostgreSQL texts of the scripts above whose SQL differs (types, identity columns);
# the others (_V4_INDEXES) run as written. Keep each beside its SQLite script's meaning.

_V1_POSTGRES = """
CREATE TABLE users (
    id              BIGINT PRIMARY KEY,             -- Telegram user id
    username        TEXT,
    first_name      TEXT NOT NULL DEFAULT '',
    last_name       TEXT,
    language_code   TEXT,
    is_banned       BIGINT NOT NULL DEFAULT 0,
    blocked_bot     BIGINT NOT NULL DEFAULT 0,     -- sends fail with 403: bot blocked
    chat_model      TEXT,                           -- NULL: the operator's CHAT_MODEL
    image_settings  TEXT NOT NULL DEFAULT '{}',     -- JSON: model, sampler, size, steps…
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The paid (or granted, or trial) tier of a user; no row or an expired row means Free.
CREATE TABLE user_tiers (
    user_id          BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tier             TEXT NOT NULL CHECK (tier IN ('free', 'tier1', 'tier2')),
    expires_at       BIGINT,                       -- unix seconds; NULL = never
    source           TEXT NOT NULL,                 -- payment | trial | grant
    trial_taken_at   BIGINT,                       -- last free trial start
    reminded_at      BIGINT,                       -- expiry reminder sent for this period
    updated_at       BIGINT NOT NULL
);

-- One key per user; only a SHA-256 hash and a display prefix are stored.
CREATE TABLE api_keys (
    user_id          BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_hash         TEXT NOT NULL UNIQUE,
    prefix           TEXT NOT NULL,
    is_active        BIGINT NOT NULL DEFAULT 1,
    inactive_reason  TEXT,                          -- left_channel | banned | revoked
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT,
    checked_at       BIGINT                        -- last channel membership check
);

-- Invoices this bot issued: a payload is only accepted if its nonce is here.
CREATE TABLE invoices (
    nonce            TEXT PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tier             TEXT NOT NULL,
    days             BIGINT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);

-- Payments, keyed by telegram_payment_charge_id: recorded before anything else.
CREATE TABLE payments (
    charge_id           TEXT PRIMARY KEY,
    provider_charge_id  TEXT,
    user_id             BIGINT NOT NULL REFERENCES users(id),
    tier                TEXT NOT NULL,
    days                BIGINT NOT NULL,
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    payload             TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'received', -- received | credited | refunded
    created_at          BIGINT NOT NULL,
    credited_at         BIGINT,
    refunded_at         BIGINT
);
CREATE INDEX payments_user ON payments(user_id);

-- Requests per user, UTC day and kind. Spent by one statement that checks and increments.
CREATE TABLE usage_daily (
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day      TEXT NOT NULL,                          -- YYYY-MM-DD (UTC)
    kind     TEXT NOT NULL,                          -- chat | image | gif
    used     BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (user_id, day, kind)
);

-- Conversation memory. scope: a private chat's user id or a group's chat id.
CREATE TABLE messages (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    scope       BIGINT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content     TEXT NOT NULL,                       -- plain text, or JSON for content lists
    model       TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX messages_scope ON messages(scope, id);

-- Admin broadcasts, resumable after a restart.
CREATE TABLE broadcasts (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    admin_id    BIGINT NOT NULL,
    text        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'running',     -- running | done
    last_user   BIGINT NOT NULL DEFAULT 0,          -- users are sent in id order
    sent        BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
"""


_V2_POSTGRES = """
CREATE TABLE quota_holds (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id     BIGINT,                              -- where to tell the user
    day         TEXT NOT NULL,                        -- the usage_daily day it was spent on
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
"""


_V3_STAR_SUBSCRIPTIONS_POSTGRES = """
ALTER TABLE invoices ADD COLUMN subscription BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN recurring BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN period_end BIGINT;   -- subscription_expiration_date
CREATE TABLE star_subscriptions (
    payload             TEXT PRIMARY KEY,
    user_id             BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tier                TEXT NOT NULL,
    amount              BIGINT NOT NULL,                -- Stars per period
    charge_id           TEXT NOT NULL,
    state               TEXT NOT NULL,   -- active | canceling | canceled | failed
    canceled_by         TEXT,            -- user | bot | switch | refund
    period_end          BIGINT NOT NULL,                -- the paid period ends (or renews)
    bonus               BIGINT NOT NULL DEFAULT 0,      -- paid time carried in, seconds
    failure_told_at     BIGINT,                         -- the user was told of a failure
    canceled_at         BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX star_subscriptions_user ON star_subscriptions(user_id, state);
"""


_V5_CONVERSATIONS_POSTGRES = """
ALTER TABLE messages ADD COLUMN thread_id BIGINT NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS messages_scope;
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(scope, thread_id, id);
CREATE TABLE conversations (
    scope         BIGINT NOT NULL,
    thread_id     BIGINT NOT NULL DEFAULT 0,
    title         TEXT,
    named         BIGINT NOT NULL DEFAULT 1,
    model         TEXT,
    persona       TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, thread_id)
);
INSERT INTO conversations (scope, thread_id, created_at, last_used_at)
    SELECT scope, 0, MIN(created_at), MAX(created_at) FROM messages GROUP BY scope;
"""


class SchemaTooNew(Exception):
    """The database was written by a newer version of the bot."""


MIGRATIONS: tuple[str, ...] = (
    _V1,
    _V2,
    _V3_STAR_SUBSCRIPTIONS,
    _V4_INDEXES,
    _V5_CONVERSATIONS,
)
LATEST = len(MIGRATIONS)
# Version (1-based) -> the PostgreSQL text of that migration, where it differs.
POSTGRES_VARIANTS: dict[int, str] = {
    1: _V1_POSTGRES,
    2: _V2_POSTGRES,
    3: _V3_STAR_SUBSCRIPTIONS_POSTGRES,
    5: _V5_CONVERSATIONS_POSTGRES,
}
# Held (transaction-scoped) while a PostgreSQL database migrates: processes starting
# together migrate one after the other, and the later ones find nothing to do.
MIGRATE_LOCK_KEY = 0x7663626F7476


def postgres_script(version: int) -> str:
    """The PostgreSQL text of migration ``version`` (1-based)."""
    return POSTGRES_VARIANTS.get(version, MIGRATIONS[version - 1])


async def schema_version(conn: Connection) -> int:
    cursor = await conn.execute("PRAGMA user_version")
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else 0


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no ';' inside string literals here)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(conn: Connection, target: int = LATEST) -> int:
    """Bring the schema to ``target``; idempotent. Returns the version reached."""
    current = await schema_version(conn)
    if current > LATEST:
        raise _too_new(current)
    while current < target:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = await schema_version(conn)
            if current >= target:
                await conn.execute("COMMIT")
                break
            for statement in _statements(MIGRATIONS[current]):
                await conn.execute(statement)
            current += 1
            await conn.execute(f"PRAGMA user_version = {current}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return current


def _too_new(current: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"database schema version {current} is newer than this code ({LATEST}); upgrade the bot"
    )


async def postgres_version(conn: asyncpg.Connection) -> int:
    """The schema version of a PostgreSQL database; 0 when it has no ``schema_version``."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    value = await conn.fetchval("SELECT version FROM schema_version")
    return int(value or 0)


async def migrate_postgres(conn: asyncpg.Connection, target: int = LATEST) -> int:
    """:func:`migrate` for PostgreSQL: the same history, versions in ``schema_version``."""
    current = await postgres_version(conn)
    if current > LATEST:
        raise _too_new(current)
    while current < target:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK_KEY)
            # Re-read under the lock: another process may have migrated meanwhile.
            current = await postgres_version(conn)
            if current > LATEST:
                raise _too_new(current)
            if current >= target:
                break
            if current == 0:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)"
                )
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for statement in _statements(postgres_script(current + 1)):
                await conn.execute(statement)
            current += 1
            await conn.execute("UPDATE schema_version SET version = $1", current)
    return current
