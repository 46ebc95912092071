//! Every statement the store runs, in one place, so that a test can ask SQLite how it plans
//! each one: every lookup goes through a primary key, none scans a table, and none costs
//! more as an agent's data grows (counts are kept beside the data, not counted).

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE kv (
         agent TEXT NOT NULL,
         key   TEXT NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (agent, key)
     ) WITHOUT ROWID;
     CREATE TABLE docs (
         agent TEXT NOT NULL,
         coll  TEXT NOT NULL,
         id    INTEGER NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (agent, coll, id)
     ) WITHOUT ROWID;
     CREATE TABLE seq (
         agent TEXT NOT NULL,
         coll  TEXT NOT NULL,
         next  INTEGER NOT NULL,
         PRIMARY KEY (agent, coll)
     ) WITHOUT ROWID;",
    // A collection's size, kept with its id sequence and changed in the same savepoint as
    // its records: `len` is then one key lookup, where `count(*)` read every record.
    "ALTER TABLE seq ADD COLUMN count INTEGER NOT NULL DEFAULT 0;
     UPDATE seq SET count =
         (SELECT count(*) FROM docs WHERE docs.agent = seq.agent AND docs.coll = seq.coll);",
];

pub(super) const KV_GET: &str = "SELECT value FROM kv WHERE agent = ?1 AND key = ?2";
pub(super) const KV_PUT: &str = "INSERT INTO kv (agent, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (agent, key) DO UPDATE SET value = excluded.value";
pub(super) const KV_REMOVE: &str = "DELETE FROM kv WHERE agent = ?1 AND key = ?2";
/// The keys starting with a prefix `?2` are those from it up to `?3`, the first string after
/// them ([`prefix_end`]): a range on the key, which the primary key serves (a `LIKE` or
/// `substr` filter would read every key of the agent).
pub(super) const KV_LIST_RANGE: &str = "SELECT key, value FROM kv
     WHERE agent = ?1 AND key >= ?2 AND key < ?3 ORDER BY key";
/// [`KV_LIST_RANGE`] for a prefix after which no string comes (empty, or `char::MAX` only).
pub(super) const KV_LIST_FROM: &str = "SELECT key, value FROM kv
     WHERE agent = ?1 AND key >= ?2 ORDER BY key";

/// Takes the next id and counts the new record; returns the id and the new count.
pub(super) const SEQ_NEXT: &str = "INSERT INTO seq (agent, coll, next, count) VALUES (?1, ?2, 2, 1)
     ON CONFLICT (agent, coll) DO UPDATE SET next = next + 1, count = count + 1
     RETURNING next - 1, count";
pub(super) const SEQ_UNCOUNT: &str =
    "UPDATE seq SET count = count - 1 WHERE agent = ?1 AND coll = ?2";
pub(super) const SEQ_COUNT: &str = "SELECT count FROM seq WHERE agent = ?1 AND coll = ?2";

pub(super) const DOC_INSERT: &str =
    "INSERT INTO docs (agent, coll, id, value) VALUES (?1, ?2, ?3, ?4)";
pub(super) const DOC_GET: &str =
    "SELECT value FROM docs WHERE agent = ?1 AND coll = ?2 AND id = ?3";
pub(super) const DOC_UPDATE: &str =
    "UPDATE docs SET value = ?4 WHERE agent = ?1 AND coll = ?2 AND id = ?3";
pub(super) const DOC_REMOVE: &str = "DELETE FROM docs WHERE agent = ?1 AND coll = ?2 AND id = ?3";
pub(super) const DOC_LIST: &str =
    "SELECT id, value FROM docs WHERE agent = ?1 AND coll = ?2 ORDER BY id";

/// Every statement above but the migrations.
#[cfg(test)]
pub(super) const ALL: &[&str] = &[
    KV_GET,
    KV_PUT,
    KV_REMOVE,
    KV_LIST_RANGE,
    KV_LIST_FROM,
    SEQ_NEXT,
    SEQ_UNCOUNT,
    SEQ_COUNT,
    DOC_INSERT,
    DOC_GET,
    DOC_UPDATE,
    DOC_REMOVE,
    DOC_LIST,
];

/// The smallest string greater than every string that starts with `prefix`: `prefix` with its
/// last character replaced by the next one (UTF-8 orders as code points do, and SQLite
/// compares text as bytes). `None` when no such string exists (`prefix` is empty or ends in
/// `char::MAX` only).
pub(super) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, skipping the surrogates, which no `char` can hold.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().expect("sqlite");
        super::super::apply_migrations(&mut conn, MIGRATIONS).expect("migrations");
        conn
    }

    /// SQLite's plan for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let count = stmt.parameter_count();
        let params: Vec<rusqlite::types::Value> = (0..count)
            .map(|_| rusqlite::types::Value::Text("x".into()))
            .collect();
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("plan")
    }

    #[test]
    fn every_statement_is_served_by_a_primary_key() {
        let conn = migrated();
        for sql in ALL {
            let steps = plan(&conn, sql);
            let reads: Vec<&String> = steps
                .iter()
                .filter(|s| s.starts_with("SEARCH") || s.starts_with("SCAN"))
                .collect();
            for step in &reads {
                assert!(
                    step.starts_with("SEARCH") && step.contains("PRIMARY KEY"),
                    "`{sql}` is planned as {steps:?}: every read must search a primary key"
                );
            }
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "`{sql}` is planned as {steps:?}: rows must come in key order, unsorted"
            );
            // An INSERT … ON CONFLICT plans no read, but goes through the key by definition.
            let insert = sql.trim_start().starts_with("INSERT");
            assert!(
                insert || !reads.is_empty(),
                "`{sql}` is planned as {steps:?}, with no read"
            );
        }
    }

    #[test]
    fn a_prefix_is_a_range_of_the_key() {
        let steps = plan(&migrated(), KV_LIST_RANGE);
        assert!(
            steps.iter().any(|s| s.contains("key>? AND key<?")),
            "{steps:?}"
        );
    }

    #[test]
    fn a_prefix_range_ends_after_the_last_string_with_it() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        for (prefix, inside, outside) in [
            ("ab", "ab\u{10FFFF}\u{10FFFF}", "ac"),
            ("é", "é\u{10FFFF}", "ê"),
            ("a\u{10FFFF}", "a\u{10FFFF}zz", "b"),
        ] {
            let end = prefix_end(prefix).expect("an end");
            assert!(inside.as_bytes() < end.as_bytes(), "{inside:?} < {end:?}");
            assert!(
                outside.as_bytes() >= end.as_bytes(),
                "{outside:?} >= {end:?}"
            );
        }
    }
}
