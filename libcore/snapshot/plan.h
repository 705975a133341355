// What a snapshot reads: the tables (named, or a publication's), their published columns and row
// filters, and the work items (a table, a partition, or a ctid page range of one) workers share.
#pragma once

#include "pg/connection.h"
#include "pg/identifier.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::snapshot {

struct Column {
    std::string name;
    uint32_t type_oid = 0;
};

struct TablePlan {
    pg::TableName name; // as records name it (the partition root for partitions)
    uint32_t oid = 0;
    std::vector<Column> columns; // published columns in attnum order, no generated columns
    std::string row_filter;      // the publication's WHERE (server text), or empty
    double estimated_rows = -1;  // pg_class.reltuples (-1: unknown)
};

struct WorkItem {
    size_t table = 0;       // index into Plan::tables
    pg::TableName relation; // the relation read: the table or one of its partitions
    std::optional<uint64_t> first_page, end_page; // ctid page range [first, end); end open if null
};

struct Plan {
    std::vector<TablePlan> tables;
    std::vector<WorkItem> items;
};

struct PlanRequest {
    std::vector<std::string> tables; // as the user typed them; empty: the publication's tables
    std::string publication;         // for its table list, column lists and row filters
    int jobs = 1;                    // > 1 splits big tables into ctid ranges
};

Plan make_plan(pg::Connection& conn, const PlanRequest& request);

// The COPY statement for one work item.
std::string copy_sql(const TablePlan& table, const WorkItem& item);

} // namespace pgsync::snapshot
