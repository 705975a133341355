// Matching native records to channels: tables by their JSON name tokens, row images into cells by
// column, then the rule of channel.cpp.
#include "channels/channel_matcher.h"

#include "record/json_text.h"
#include "util/error.h"

#include <algorithm>
#include <charconv>

namespace pgsync::channels {

namespace {

std::string token_of(std::string_view text) {
    std::string out;
    record::append_json_string(out, text);
    return out;
}

std::string display(const config::TableName& name) {
    return name.schema + "." + name.name;
}

} // namespace

ChannelMatcher::ChannelMatcher(std::vector<Channel> channels) : m_channels(std::move(channels)) {
    for (size_t i = 0; i < m_channels.size(); ++i) {
        const Channel& channel = m_channels[i];
        auto it = std::find_if(m_tables.begin(), m_tables.end(),
                               [&](const TableEntry& t) { return t.name == channel.table; });
        if (it == m_tables.end()) {
            TableEntry entry;
            entry.name = channel.table;
            entry.schema_token = token_of(channel.table.schema);
            entry.table_token = token_of(channel.table.name);
            m_tables.push_back(std::move(entry));
            it = m_tables.end() - 1;
        }
        it->channels.push_back(i);
        it->wheres.emplace_back();
        if (!channel.where.empty()) it->needs_columns = true;
    }
}

ChannelMatcher::TableEntry* ChannelMatcher::find(std::string_view schema_token,
                                                 std::string_view table_token) {
    for (TableEntry& entry : m_tables)
        if (entry.schema_token == schema_token && entry.table_token == table_token) return &entry;
    return nullptr;
}

void ChannelMatcher::bind(TableEntry& entry, std::vector<filter::TableColumn> columns) {
    // Bound before anything changes: a where that does not fit leaves the old binding.
    std::vector<std::optional<filter::BoundFilter>> wheres;
    for (size_t index : entry.channels)
        wheres.push_back(bind_where(m_channels[index], columns));
    entry.wheres = std::move(wheres);
    entry.column_tokens.clear();
    for (const auto& column : columns)
        entry.column_tokens.push_back(token_of(column.name));
    entry.learned = true;
}

void ChannelMatcher::learn(const record::ScannedRecord& relation) {
    if (relation.op != "relation") return;
    TableEntry* entry = find(relation.schema_token, relation.table_token);
    if (!entry) return;
    std::vector<filter::TableColumn> columns;
    bool fits = true;
    bool well_formed = record::for_each_element(relation.columns, [&](std::string_view element) {
        filter::TableColumn column;
        bool named = false;
        record::for_each_member(element, [&](std::string_view key, std::string_view value) {
            if (key == "\"name\"") named = record::unescape_json_string(value, column.name);
            if (key == "\"type_oid\"") {
                auto [end, ec] =
                    std::from_chars(value.data(), value.data() + value.size(), column.type_oid);
                if (ec != std::errc() || end != value.data() + value.size()) fits = false;
            }
            if (key == "\"key\"") column.key = value == "true";
        });
        if (!named) fits = false;
        columns.push_back(std::move(column));
    });
    if (!well_formed || !fits)
        throw Error("the relation record of table \"" + display(entry->name) +
                    "\" has malformed columns");
    bind(*entry, std::move(columns));
}

void ChannelMatcher::learn(const config::TableName& table,
                           std::vector<filter::TableColumn> columns) {
    for (TableEntry& entry : m_tables)
        if (entry.name == table) bind(entry, std::move(columns));
}

void ChannelMatcher::fill(const TableEntry& entry, std::string_view object,
                          std::vector<filter::Cell>& cells) {
    cells.assign(entry.column_tokens.size(), filter::Cell{});
    if (object.empty()) return;
    const size_t count = entry.column_tokens.size();
    size_t next = 0; // members come in column order: try the expected one first
    bool fits = true;
    bool well_formed =
        record::for_each_member(object, [&](std::string_view key, std::string_view value) {
            for (size_t n = 0; n < count; ++n) {
                const size_t i = (next + n) % count;
                if (entry.column_tokens[i] == key) {
                    cells[i] = value == "null" ? filter::Cell{filter::Cell::Kind::Null, {}}
                                               : filter::Cell{filter::Cell::Kind::Json, value};
                    next = i + 1;
                    return true;
                }
            }
            fits = false;
            return false;
        });
    if (!well_formed || !fits)
        throw Error("a change of table \"" + display(entry.name) +
                    "\" does not fit the columns of its relation record");
}

void ChannelMatcher::match(const record::ScannedRecord& record, std::vector<size_t>& out) {
    out.clear();
    const uint8_t op = op_of(record.op);
    if (op == 0) return;
    if (op == kTruncate) {
        record::for_each_element(record.relations, [&](std::string_view element) {
            std::string_view schema, name;
            record::for_each_member(element, [&](std::string_view key, std::string_view value) {
                if (key == "\"schema\"") schema = value;
                if (key == "\"table\"") name = value;
            });
            if (const TableEntry* entry = find(schema, name))
                for (size_t index : entry->channels)
                    if (m_channels[index].ops & kTruncate) out.push_back(index);
        });
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return;
    }
    TableEntry* entry = find(record.schema_token, record.table_token);
    if (!entry) return;
    if (entry->needs_columns) {
        if (!entry->learned)
            throw Error("a change of table \"" + display(entry->name) +
                            "\" came before its relation record",
                        "A channel's where needs the table's columns: feed the records in order, "
                        "from a transaction's begin.");
        fill(*entry, record.new_object, m_new);
        fill(*entry, record.old_object, m_old);
    }
    for (size_t n = 0; n < entry->channels.size(); ++n) {
        const size_t index = entry->channels[n];
        const auto& where = entry->wheres[n];
        if (row_belongs(m_channels[index], where ? &*where : nullptr, Op(op), m_new, m_old))
            out.push_back(index);
    }
}

} // namespace pgsync::channels
