import BackplaneModel
import Foundation
import GRDB

/// The embedded default: one SQLite file (WAL mode) through GRDB. Reads are served from memory;
/// every change is written to the file, in one SQLite transaction, before it is visible.
/// Opening an existing file restores keys, revision, history and leases (each lease gets a full
/// TTL from the time of opening, as etcd does after a restart).
public final class SQLiteClusterStore: EmbeddedClusterStore {
    let core: StoreCore
    private let database: DatabasePool
    public let path: String

    public init(path: String, clock: any StoreClock = SystemStoreClock()) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Deleted rows are overwritten with zeros, not left in free pages: a deleted
            // workload's env secrets must not be readable in the file.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        let database: DatabasePool
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(.backend, "cannot open the store at \(path): \(error)")
        }
        let state = try database.read { db in try Self.load(db, now: clock.now()) }
        self.database = database
        self.path = path
        self.core = StoreCore(state: state, clock: clock, persist: { changes, state in
            try database.write { db in try Self.write(changes, state: state, to: db) }
        })
    }

    /// Ends every watch and closes the file.
    public func close() throws {
        core.close()
        try database.close()
    }

    /// After history is compacted, the WAL still holds page images with the forgotten values:
    /// checkpoint them into the (zero-filling) database and truncate the WAL to nothing.
    func afterCompaction() throws {
        try database.writeWithoutTransaction { db in
            _ = try db.checkpoint(.truncate)
        }
    }

    /// The SQLite journal mode in use (`wal`).
    public func journalMode() throws -> String {
        try database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE kv (
                    key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,
                    create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,
                    version INTEGER NOT NULL, lease INTEGER);
                CREATE TABLE history (
                    revision INTEGER NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,
                    key TEXT NOT NULL, value BLOB NOT NULL, create_revision INTEGER NOT NULL,
                    version INTEGER NOT NULL, lease INTEGER, PRIMARY KEY (revision, seq));
                CREATE TABLE lease (id INTEGER PRIMARY KEY NOT NULL, ttl_ns INTEGER NOT NULL);
                CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
                """)
        }
        return migrator
    }

    private static func meta(_ db: Database, _ name: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = ?", arguments: [name]) ?? 0
    }

    private static func load(_ db: Database, now: Instant) throws -> StoreState {
        func lease(_ value: Int64?) -> LeaseID? { value.map { LeaseID(rawValue: $0) } }
        let kvs = try Row.fetchAll(db, sql: "SELECT * FROM kv").map { row in
            KeyValue(key: row["key"], value: [UInt8](row["value"] as Data), createRevision: row["create_revision"], modRevision: row["mod_revision"], version: row["version"], lease: lease(row["lease"]))
        }
        let history = try Row.fetchAll(db, sql: "SELECT * FROM history ORDER BY revision, seq").map { row in
            WatchEvent(
                kind: WatchEvent.Kind(rawValue: row["kind"]) ?? .put,
                kv: KeyValue(key: row["key"], value: [UInt8](row["value"] as Data), createRevision: row["create_revision"], modRevision: row["revision"], version: row["version"], lease: lease(row["lease"]))
            )
        }
        let leases = try Row.fetchAll(db, sql: "SELECT id, ttl_ns FROM lease").map { row -> (LeaseID, Duration) in
            (LeaseID(rawValue: row["id"]), .nanoseconds(row["ttl_ns"] as Int64))
        }
        return StoreState(
            kvs: kvs, revision: try meta(db, "revision"), history: history,
            compactedRevision: try meta(db, "compacted"), leases: leases,
            nextLeaseID: max(1, try meta(db, "next_lease")), now: now
        )
    }

    private static func write(_ changes: StoreState.Changes, state: StoreState, to db: Database) throws {
        for (seq, event) in changes.events.enumerated() {
            let kv = event.kv
            switch event.kind {
            case .put:
                try db.execute(
                    sql: "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision, version, lease) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [kv.key, Data(kv.value), kv.createRevision, kv.modRevision, kv.version, kv.lease?.rawValue])
            case .delete:
                try db.execute(sql: "DELETE FROM kv WHERE key = ?", arguments: [kv.key])
            }
            try db.execute(
                sql: "INSERT INTO history (revision, seq, kind, key, value, create_revision, version, lease) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [kv.modRevision, seq, Int(event.kind.rawValue), kv.key, Data(kv.value), kv.createRevision, kv.version, kv.lease?.rawValue])
        }
        for (id, ttl) in changes.grantedLeases {
            try db.execute(sql: "INSERT INTO lease (id, ttl_ns) VALUES (?, ?)", arguments: [id.rawValue, ttl.nanoseconds])
        }
        for id in changes.removedLeases {
            try db.execute(sql: "DELETE FROM lease WHERE id = ?", arguments: [id.rawValue])
        }
        if let compacted = changes.compactedTo {
            try db.execute(sql: "DELETE FROM history WHERE revision <= ?", arguments: [compacted])
        }
        for (name, value) in [("revision", state.revision), ("compacted", state.compactedRevision), ("next_lease", state.nextLeaseID)] {
            try db.execute(sql: "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", arguments: [name, value])
        }
    }
}
