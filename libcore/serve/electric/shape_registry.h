// ShapeRegistry: every Electric shape the server holds (handle -> shape, definition -> handle) and
// the machinery that keeps each shape's log (serve/electric/shape_log.h) complete: one dispatcher
// thread ("pgsync-shapes") reading the server's change log and appending each transaction's
// messages to the logs of the shapes it changes (found through a per-table ShapeIndex), and a few
// snapshot threads running initial loads (serve/shapes/shape_load.h). A shape is created by its
// first request, indexed by the dispatcher at its current position, then loaded; the changes that
// arrive meanwhile wait, and those the load's snapshot already saw are dropped (as for /v1/ws).
// A truncate, a schema change or a DELETE rotates a shape: its handle is gone for good (409) and
// the next request for the definition creates a new one. Requests run on the event-loop threads;
// they read shape logs directly and are told (notify) which shapes changed.
#pragma once

#include "changelog/change_log.h"
#include "config/config.h"
#include "serve/access/auth.h"
#include "serve/electric/messages.h"
#include "serve/electric/shape_log.h"
#include "serve/electric/shape_request.h"
#include "serve/shapes/record_meaning.h"
#include "serve/shapes/table_schema.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::serve::electric {

struct ElectricShape {
    enum class State { Loading, Ready, Gone, Failed };
    std::string handle;
    std::string definition; // the identity shared by every request of this shape
    std::shared_ptr<const Shape> shape;
    bool replica_full = false;
    bool changes_only = false;
    std::unique_ptr<ShapeLog> log;

    std::atomic<State> state{State::Loading};
    std::atomic<int64_t> last_used{0}; // steady-clock milliseconds of its last request
    std::vector<std::string> request_keys; // the registry's, under its lock
    std::string creator; // "jwt:<sub>" of the token whose request created it, or empty
    // Set before state leaves Loading (then read-only): the header, and for Failed the reason
    // and the status to answer with (400 for a table no longer served, 503 for a failed load).
    std::string schema_header;
    std::string failure;
    int failure_status = 503;

    // The dispatcher's: what the load saw (changes it saw are skipped), and the transactions
    // dispatched while loading (kept until the load's snapshot is known).
    std::optional<MessageContext> context;
    std::optional<LoadSnapshot> load;
    struct Pending {
        LogOffset offset;
        Lsn lsn;
        uint32_t xid;
        std::string messages;
    };
    std::vector<Pending> pending;
    uint64_t id = 0; // the dispatcher's index id
};

// A subset snapshot's answer (Electric's subset__* or POST), filled on the snapshot pool; the
// registry notifies its shape when done.
struct SubsetQuery {
    std::atomic<bool> done{false};
    int status = 200;    // else the error to answer with
    std::string message; // the error's
    std::string body;    // {"metadata":{…},"data":[…]}
    LogOffset offset;    // electric-offset: the shape's log end when asked (before the snapshot)
};

struct ShapeRegistryOptions {
    std::string conninfo;
    std::string publication;
    std::string dir;                     // shape logs go here (emptied at start)
    int snapshot_threads = 2;            // concurrent initial loads
    size_t chunk_bytes = 10u << 20;      // a snapshot chunk ends past this many bytes
    size_t max_shapes = 10000;           // past it the least recently used idle shape goes
    uint64_t max_log_bytes = 64ull << 20; // a shape whose log passes this is rotated (refetched)
    std::vector<config::Table> tables;   // config's tables (allow-lists), when given
};

// What a request asks for, checked against the tables and the principal.
struct ShapeLookup {
    std::shared_ptr<ElectricShape> shape;
    int status = 200;   // else the error to answer with
    std::string field;  // the parameter at fault (400)
    std::string message;
};

class ShapeRegistry {
public:
    // read_tables: the published tables now (any thread; the caller serialises its connection).
    // notify(shapes): called on the dispatcher thread with shapes whose log grew or whose state
    // changed.
    ShapeRegistry(const ShapeRegistryOptions& options, ChangeLog& log,
                  std::function<std::vector<TableSchema>()> read_tables,
                  std::function<void(const std::vector<std::shared_ptr<ElectricShape>>&)> notify);
    ~ShapeRegistry();
    // Starts the dispatcher and snapshot threads (notify may be called from then on).
    void start();
    ShapeRegistry(const ShapeRegistry&) = delete;
    ShapeRegistry& operator=(const ShapeRegistry&) = delete;

    // The shape of a request's definition (table, where, params, columns, replica, log), created
    // when there is none (unless !create: then 404). principal: null in insecure mode. Never
    // throws for client input.
    ShapeLookup get_or_create(const ShapeRequest& request, const Principal* principal,
                              bool create = true);
    // The shape with this handle, if it still exists (Gone shapes are forgotten).
    std::shared_ptr<ElectricShape> find(const std::string& handle) const;
    // Checks a subset request against the shape's table (400s in problem) and starts its query
    // on the snapshot pool; null when refused. The shape must be Ready.
    std::shared_ptr<SubsetQuery> start_subset(const std::shared_ptr<ElectricShape>& shape,
                                              const Subset& subset, ShapeLookup& problem);
    // DELETE: rotates the shape; false when there is none.
    bool rotate(const std::shared_ptr<ElectricShape>& shape);
    // The commit LSN of the last transaction every ready shape's log includes.
    Lsn processed_lsn() const { return Lsn(m_processed_lsn.load()); }
    size_t shape_count() const;
    // The change log appended records (from the log's on_append): the dispatcher reads them.
    void wake();

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
    std::atomic<uint64_t> m_processed_lsn{0};
};

} // namespace pgsync::serve::electric
