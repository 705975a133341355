// ChannelMatcher: the one answer to "which channels does this native change record belong to?",
// for pgsync-publish (subjects) and anything else that reads records in order. It learns each
// table's columns from the relation records before its rows (or from a catalog, as pgsync-serve
// knows them) and applies channels::row_belongs.
#pragma once

#include "channels/channel.h"
#include "record/record_scan.h"

#include <cstddef>
#include <string>
#include <vector>

namespace pgsync::channels {

class ChannelMatcher {
public:
    explicit ChannelMatcher(std::vector<Channel> channels);

    // A native "relation" record: the columns (names, type OIDs, key flags) a where is bound to.
    // Records of tables no channel names are ignored. A where that cannot be bound (an unknown
    // column, a type filters cannot compare, e.g. a domain) throws a usage pgsync::Error.
    void learn(const record::ScannedRecord& relation);
    // The same from a catalog: columns in attnum order, type_oid the base type.
    void learn(const config::TableName& table, std::vector<filter::TableColumn> columns);

    // Indexes into channels() of those the record belongs to, ascending (out is cleared first;
    // empty for a record that is no change or of no channel's table). Throws pgsync::Error for a
    // row of a table with a where before its relation record, or one that does not fit it.
    void match(const record::ScannedRecord& record, std::vector<size_t>& out);

    const std::vector<Channel>& channels() const { return m_channels; }

private:
    struct TableEntry {
        config::TableName name;
        std::string schema_token, table_token; // as records carry them (JSON string tokens)
        std::vector<size_t> channels;          // indexes into m_channels
        std::vector<std::optional<filter::BoundFilter>> wheres; // per entry of channels
        bool needs_columns = false;                             // some channel has a where
        bool learned = false;
        std::vector<std::string> column_tokens; // each column's name as a JSON string token
    };
    TableEntry* find(std::string_view schema_token, std::string_view table_token);
    void bind(TableEntry& entry, std::vector<filter::TableColumn> columns);
    void fill(const TableEntry& entry, std::string_view object, std::vector<filter::Cell>& cells);

    std::vector<Channel> m_channels;
    std::vector<TableEntry> m_tables;
    std::vector<filter::Cell> m_new, m_old; // scratch, reused for every record
};

} // namespace pgsync::channels
