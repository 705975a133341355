// What one logged record means for a table's shapes: the one answer the live dispatcher
// (serve/hub/hub_dispatch.cpp) and catch-up readers (serve/hub/loader.cpp) share, so the two
// paths cannot drift apart. Pure functions over a scanned native record.
#pragma once

#include "filter/shape_index.h"
#include "record/record_scan.h"
#include "serve/shapes/shape.h"
#include "serve/shapes/table_schema.h"
#include "serve/shapes/xid_snapshot.h"
#include "util/lsn.h"

#include <optional>

namespace pgsync::serve {

enum class RecordKind { Row, Commit, Relation, Truncate, Other };

RecordKind record_kind(const record::ScannedRecord& record);

// A relation record of this table whose columns are not the ones the shapes were built on.
bool changes_schema(const record::ScannedRecord& record, const TableSchema& table);

// A truncate record that names this table.
bool truncates(const record::ScannedRecord& record, const TableSchema& table);

// What an initial load already saw: its snapshot, and the WAL insert position taken with it.
// A transaction committed at or before that position and visible to the snapshot is in the
// loaded rows; everything else comes from the log.
struct LoadSnapshot {
    XidSnapshot xids;
    Lsn lsn;
    bool saw(Lsn commit_lsn, uint32_t xid) const {
        return commit_lsn.is_valid() && commit_lsn <= lsn && xids.visible(xid);
    }
    // Past this commit no later transaction can be one the load saw.
    bool passed(Lsn commit_lsn) const { return commit_lsn > lsn; }
};

// The shapes of a table (index, and those that need a full old image to decide) that a row
// change may concern, sorted and without duplicates: the live dispatchers' candidates.
void change_candidates(const filter::ShapeIndex& index, const std::vector<uint64_t>& needs_old,
                       const RowImages& row, std::vector<uint64_t>& out);

// What a row record means for one shape, with the load's snapshot (when the subscriber is still
// within it) already applied: ShapeOp::None when the load's rows included it.
ShapeOp row_meaning(const Shape& shape, const RowImages& row,
                    const std::optional<LoadSnapshot>& load, Lsn commit_lsn, uint32_t xid);

} // namespace pgsync::serve
