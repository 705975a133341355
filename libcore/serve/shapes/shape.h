// A shape: one table, an optional bound filter and the selected columns. This file decides what a
// logged row change means for a shape (nothing, insert, update or delete, with enter/leave on
// update: cdc-hard-cases F7) and renders the part of the "change" frame every subscriber of the
// shape shares. Pure functions: the live path and catch-up readers both use them.
#pragma once

#include "channels/channel.h"
#include "filter/bound_filter.h"
#include "filter/evaluator.h"
#include "record/record_scan.h"
#include "serve/shapes/table_schema.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::serve {

struct Shape {
    std::shared_ptr<const TableSchema> table;
    std::optional<filter::BoundFilter> filter; // none: every row
    std::vector<int> selected;                 // table columns sent in new/old, ascending
    std::string identity;                      // table + canonical filter + columns
    // Whether the filter reads columns outside the key while the table's old images lack them
    // (replica identity not FULL): such shapes get key-only deletes when unsure (F7).
    bool needs_old_image = false;
    // A channel's feed (/v1/ws {"channel": …}): rows belong by channels::row_belongs, each change
    // is an event (no enter/leave), frames name the table. filter is then the channel's where.
    std::shared_ptr<const channels::Channel> channel;
};

// Builds the shape (selected columns validated: unknown names are an error string).
std::optional<std::string> make_shape(Shape& out, std::shared_ptr<const TableSchema> table,
                                      std::optional<filter::BoundFilter> filter,
                                      const std::vector<std::string>& columns);

// A row record's images as cells, one per table column.
struct RowImages {
    enum class Op { Insert, Update, Delete } op = Op::Insert;
    std::vector<filter::Cell> new_cells; // Insert, Update
    std::vector<filter::Cell> old_cells; // all Absent when the record has no old image
    bool has_old = false;
    bool old_full = false;
    // Update: columns whose TOASTed value the update did not change (not sent, so Absent in
    // new_cells). Their value is the old row's, even when that is unknown too.
    std::vector<char> unchanged;
};

// Fills images from a scanned row record of table; false when the record does not fit the table.
bool read_row(const TableSchema& table, const record::ScannedRecord& record, RowImages& out);

enum class ShapeOp { None, Insert, Update, Delete };

// What the change means for the shape's subscribers.
ShapeOp classify(const Shape& shape, const RowImages& row);

// Appends the JSON object of the given columns' cells (Absent cells left out, Null as null).
void append_row_object(std::string& out, const TableSchema& table, const std::vector<int>& columns,
                       const std::vector<filter::Cell>& cells);

// Appends `,"op":"…","offset":"…","key":{…},"new":{…},"old":{…}}` (the frame after its id);
// for a channel's shape `"table":"schema.name"` follows the op.
void append_change_tail(std::string& out, const Shape& shape, ShapeOp op, const RowImages& row,
                        std::string_view offset_text, bool snapshot);

// A truncate of the table for a channel that lists it: `,"op":"truncate","table":…,"offset":…}`.
void append_truncate_tail(std::string& out, const Shape& shape, std::string_view offset_text);

// Whether a truncate record concerns a channel's shape (it lists truncates): then it is an event
// for its subscribers, not the end of their subscription.
bool channel_takes_truncate(const Shape& shape);

} // namespace pgsync::serve
