// Channels from the config, binding their wheres, and the rule a row change is matched by.
#include "channels/channel.h"

#include "filter/where_parser.h"
#include "util/error.h"

namespace pgsync::channels {

std::vector<Channel> from_config(const config::Config& config) {
    return from_tables(config.tables);
}

std::vector<Channel> from_tables(const std::vector<config::Table>& tables) {
    std::vector<Channel> out;
    for (const config::Table& table : tables) {
        std::optional<config::TableName> name = config::parse_table_name(table.name.value);
        if (!name) continue; // the loader refused the file already
        for (const config::Channel& entry : table.channels) {
            Channel channel;
            channel.name = entry.name.value;
            channel.table = *name;
            for (const auto& operation : entry.operations)
                channel.ops |= op_of(operation.value);
            if (entry.where.set) channel.where = entry.where.value;
            out.push_back(std::move(channel));
        }
    }
    return out;
}

const Channel* find_channel(const std::vector<Channel>& channels, std::string_view name) {
    for (const Channel& channel : channels)
        if (channel.name == name) return &channel;
    return nullptr;
}

std::string channel_names(const std::vector<Channel>& channels) {
    if (channels.empty()) return "none are configured";
    std::string out;
    for (const Channel& channel : channels) {
        if (!out.empty()) out += ", ";
        out += '"' + channel.name + '"';
    }
    return out;
}

uint8_t op_of(std::string_view record_op) {
    if (record_op == "insert") return kInsert;
    if (record_op == "update") return kUpdate;
    if (record_op == "delete") return kDelete;
    if (record_op == "truncate") return kTruncate;
    return 0;
}

std::optional<filter::BoundFilter> bind_where(const Channel& channel,
                                              const std::vector<filter::TableColumn>& columns) {
    if (channel.where.empty()) return std::nullopt;
    const std::string table = channel.table.schema + "." + channel.table.name;
    filter::ParseResult parsed = filter::parse_where(channel.where);
    if (!parsed.ok())
        throw usage_error("invalid where of channel \"" + channel.name +
                          "\": " + parsed.error.message);
    filter::BindResult bound = filter::bind(*parsed.expr, columns, {});
    if (!bound.ok())
        throw usage_error("the where of channel \"" + channel.name + "\" does not fit table \"" +
                              table + "\": " + bound.error.message,
                          "Correct the channel's where in the configuration file.");
    return std::move(bound.filter);
}

bool row_belongs(const Channel& channel, const filter::BoundFilter* where, Op op,
                 std::span<const filter::Cell> new_cells, std::span<const filter::Cell> old_cells) {
    if (!(channel.ops & op) || op == kTruncate) return false;
    if (!where) return true;
    using filter::Match;
    switch (op) {
    case kInsert:
        return filter::evaluate(*where, new_cells) == Match::Yes;
    case kUpdate: {
        Match now = filter::evaluate(*where, new_cells);
        if (now != Match::Unknown) return now == Match::Yes;
        // Columns the new image lacks are unchanged TOASTed values: the old image (a FULL one)
        // holds them. Rare, so the copy is made only here.
        std::vector<filter::Cell> merged(new_cells.begin(), new_cells.end());
        for (size_t i = 0; i < merged.size() && i < old_cells.size(); ++i)
            if (merged[i].kind == filter::Cell::Kind::Absent) merged[i] = old_cells[i];
        return filter::evaluate(*where, merged) == Match::Yes;
    }
    case kDelete:
        return filter::evaluate(*where, old_cells) == Match::Yes;
    case kTruncate:
        break;
    }
    return false;
}

} // namespace pgsync::channels
