// Electric's messages: what one change of a shape's rows looks like to an Electric client (key,
// value and old_value as PostgreSQL text, headers.operation/relation/txids/lsn/op_position/last)
// and the control messages (up-to-date, snapshot-end, must-refetch). The one answer to "what does
// this row change send to an Electric shape", for snapshot rows and live changes alike, so keys
// are byte-identical in both (errata 8).
#pragma once

#include "pg/type_catalog.h"
#include "serve/shapes/shape.h"
#include "serve/shapes/xid_snapshot.h"
#include "util/lsn.h"

#include <memory>
#include <string>
#include <vector>

namespace pgsync::serve::electric {

// What rendering a shape's messages needs besides the Shape: each table column's type (its
// declared type, domains kept) from a catalog loaded for the table, and the shape's modes.
struct MessageContext {
    std::shared_ptr<const Shape> shape;
    std::shared_ptr<const pg::TypeCatalog> catalog; // owns the TypeInfos below
    std::vector<const pg::TypeInfo*> column_types;  // per table column
    bool replica_full = false;
    std::string relation_json; // ["schema","name"]
    std::string key_prefix;    // "schema"."name" with '/' and '.' doubled: Electric's key start
};

// Builds the context; throws pgsync::Error when a column's type is not in the catalog.
MessageContext make_message_context(std::shared_ptr<const Shape> shape,
                                    std::shared_ptr<const pg::TypeCatalog> catalog,
                                    bool replica_full);

// A change from the log: its transaction and position.
struct ChangeOrigin {
    uint32_t xid = 0;
    Lsn lsn;              // the commit LSN
    uint64_t op_position; // the record's op in the log's numbering (2s+2)
};

// Appends ",{...}" for each message the change means (none, one, or two for an update that
// changed the key: a delete with key_change_to, then an insert with key_change_from). origin is
// null for snapshot rows (no txids, lsn or op_position). Returns the number of messages; false
// values (a cell whose JSON does not fit its type) throw pgsync::Error.
int append_change(std::string& out, const MessageContext& context, ShapeOp op,
                  const RowImages& row, const ChangeOrigin* origin);

// Adds members (",\"name\":value") to the headers of the last message appended (which ends in
// "}}").
void add_to_last_headers(std::string& out, std::string_view members);
// Marks the last message appended as its transaction's last: "last":true.
inline void mark_last(std::string& out) { add_to_last_headers(out, ",\"last\":true"); }

// {"headers":{"control":"up-to-date","global_last_seen_lsn":"<decimal>"}}
std::string up_to_date_message(Lsn lsn);
// {"headers":{"control":"snapshot-end","xmin":"…","xmax":"…","xip_list":[…]}}
std::string snapshot_end_message(const XidSnapshot& snapshot);
// The body of a 409.
inline constexpr std::string_view kMustRefetchBody = "[{\"headers\":{\"control\":\"must-refetch\"}}]";

} // namespace pgsync::serve::electric
