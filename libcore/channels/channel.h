// Channels (pgsync.yaml tables[].channels): named feeds of one table's changes, by operation and an
// optional where. This file holds what a channel is and THE rule for whether a row change belongs
// to it; channel_matcher.h applies the rule to native records, pgsync-serve to its shapes' rows.
#pragma once

#include "config/config.h"
#include "config/table_name.h"
#include "filter/bound_filter.h"
#include "filter/evaluator.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::channels {

enum Op : uint8_t { kInsert = 1, kUpdate = 2, kDelete = 4, kTruncate = 8 };

struct Channel {
    std::string name;
    config::TableName table;
    uint8_t ops = 0;   // Op bits
    std::string where; // the filter's text, empty for every row
};

// The channels of a loaded (and so already checked) config, in file order.
std::vector<Channel> from_config(const config::Config& config);
std::vector<Channel> from_tables(const std::vector<config::Table>& tables);

// The channel named name, or null.
const Channel* find_channel(const std::vector<Channel>& channels, std::string_view name);

// "chat-added", "chat-all" (every name, quoted, for hints); "none are configured" when empty.
std::string channel_names(const std::vector<Channel>& channels);

// The op of a native record's "op" ("insert", ...), or 0 for one that is not a change.
uint8_t op_of(std::string_view record_op);

// Binds a channel's where to its table's columns. nullopt when it has none; throws a usage
// pgsync::Error naming the channel, the table and the problem (unknown column, a type filters
// cannot compare, a literal that is not valid for its column).
std::optional<filter::BoundFilter> bind_where(const Channel& channel,
                                              const std::vector<filter::TableColumn>& columns);

// The rule (an event feed, not a shape: no enter/leave): the op must be one the channel lists;
// an insert or update belongs when its new row matches the where, a delete when its old row does.
// A where that cannot be decided on the image (a column a key-only old row lacks) does not match.
// An update's unchanged TOASTed values are taken from its old image when it has them.
// new_cells and old_cells hold one cell per column the where is bound to (all Absent when the
// image is missing).
bool row_belongs(const Channel& channel, const filter::BoundFilter* where, Op op,
                 std::span<const filter::Cell> new_cells, std::span<const filter::Cell> old_cells);

} // namespace pgsync::channels
