// Reading and checking the "tables" section: every table, live query and channel is checked and
// every problem reported; names that must be unique are compared across the whole file.
#include "config/load_tables.h"

#include "config/table_name.h"
#include "filter/where_parser.h"

#include <algorithm>
#include <map>

namespace pgsync::config {

namespace {

const std::initializer_list<const char*> kOperators = {"=", "<", "<=", ">", ">="};
const std::initializer_list<const char*> kOperations = {"insert", "update", "delete", "truncate"};

bool contains(std::initializer_list<const char*> words, const std::string& word) {
    return std::any_of(words.begin(), words.end(), [&](const char* w) { return word == w; });
}

std::string first_at(const std::string& what, int line) {
    return "The first " + what + " is at line " + std::to_string(line) + ".";
}

// State shared by all tables: names that must be unique in the file, with their first line.
struct FileNames {
    std::map<std::pair<std::string, std::string>, int> tables;
    std::map<std::string, int> channels;
};

void read_conditions(Reader& reader, const YamlNode& list, const Table& table, LiveQuery& query) {
    int inequalities = 0;
    for (const YamlNode& item : list.items) {
        const bool pair = item.kind == YamlNode::Kind::Sequence && item.items.size() == 2 &&
                          node_type(item.items[0]) == NodeType::String &&
                          node_type(item.items[1]) == NodeType::String;
        if (!pair) {
            reader.error(item.origin, "condition must be [column, operator]",
                         "Write each condition as a two-element list, e.g. [group_name, \"=\"].");
            continue;
        }
        Condition condition{{item.items[0].text, true, item.items[0].origin},
                            {item.items[1].text, true, item.items[1].origin}};
        const std::string& op = condition.op.value;
        if (!contains(kOperators, op))
            reader.error(condition.op.origin, "unknown operator \"" + op + "\" in condition",
                         "Valid operators are " + quoted_list(kOperators) + ".");
        else if (op != "=")
            ++inequalities;
        if (table.columns) {
            const auto& columns = *table.columns;
            const bool known = std::any_of(columns.begin(), columns.end(), [&](const auto& c) {
                return c.value == condition.column.value;
            });
            if (!known)
                reader.error(condition.column.origin,
                             "column \"" + condition.column.value +
                                 "\" in a condition is not in the table's \"columns\"",
                             "Add it to \"columns\", or correct the name.");
        }
        query.conditions.push_back(std::move(condition));
    }
    if (inequalities > 1)
        reader.error(query.origin,
                     "live query has " + std::to_string(inequalities) +
                         " inequality conditions; at most one is allowed",
                     "An index serves any number of equality conditions plus one range condition; "
                     "split the query or filter the rest in the client.");
}

void read_live_queries(Reader& reader, const YamlNode& list, const std::string& context,
                       Table& table) {
    for (std::size_t i = 0; i < list.items.size(); ++i) {
        const YamlNode& item = list.items[i];
        const std::string here = context + ".live_queries[" + std::to_string(i) + "]";
        const std::string called =
            "live query at index " + std::to_string(i) + " in \"" + context + '"';
        if (item.kind != YamlNode::Kind::Mapping) {
            reader.error(item.origin,
                         called + " must be a mapping, not " + type_phrase(node_type(item)));
            continue;
        }
        reader.check_keys(item, here, {"conditions"});
        LiveQuery query;
        query.origin = item.origin;
        const YamlNode* conditions = Reader::find(item, "conditions");
        if (!Reader::given(item, "conditions"))
            reader.error(
                item.origin, called + " has no \"conditions\"",
                "List the conditions a client gives, e.g. conditions: [[group_name, \"=\"]].");
        else if (reader.expect(*conditions, NodeType::List, "conditions", here))
            read_conditions(reader, *conditions, table, query);
        table.live_queries.push_back(std::move(query));
    }
}

void read_operations(Reader& reader, const YamlNode& channel_node, const std::string& context,
                     Channel& channel) {
    const YamlNode* node = Reader::find(channel_node, "operations");
    if (!node) {
        for (const char* operation : kOperations)
            channel.operations.push_back(Value<std::string>{operation, false, {}});
        return;
    }
    if (!reader.expect(*node, NodeType::List, "operations", context)) return;
    if (node->items.empty()) {
        reader.error(node->origin, subject("operations", context) + " must not be empty",
                     "Leave out \"operations\" for all four, or name at least one.");
        return;
    }
    std::vector<Value<std::string>> operations;
    reader.read_strings(*node, "operations", context, operations);
    std::map<std::string, int> seen;
    for (auto& operation : operations) {
        if (!contains(kOperations, operation.value)) {
            reader.error(operation.origin,
                         "unknown operation \"" + operation.value + "\" in \"" + context + '"',
                         "Valid operations are " + quoted_list(kOperations) + ".");
            continue;
        }
        auto [it, inserted] = seen.emplace(operation.value, operation.origin.line);
        if (!inserted) {
            reader.error(operation.origin,
                         "duplicate operation \"" + operation.value + "\" in \"" + context + '"',
                         first_at('"' + operation.value + '"', it->second));
            continue;
        }
        channel.operations.push_back(std::move(operation));
    }
}

// Where in the file byte `position` of a scalar's text is: exact on the line of a plain one-line
// scalar, the scalar's own position otherwise (quotes and escapes shift the columns).
Origin origin_at(const YamlNode& node, std::size_t position) {
    Origin at = node.origin;
    if (node.plain && node.text.find('\n') == std::string::npos)
        at.column += static_cast<int>(position);
    return at;
}

// Every column reference of a filter, in order, with its byte position.
void referenced_columns(const filter::Expr& expr,
                        std::vector<std::pair<std::string, std::size_t>>& out) {
    if (!expr.column.empty()) out.emplace_back(expr.column, expr.column_position);
    for (const auto& child : expr.children)
        referenced_columns(*child, out);
}

bool has_parameter(const filter::Expr& expr, std::size_t& position) {
    for (const auto& operand : expr.operands)
        if (operand.kind == filter::Operand::Kind::Param) {
            position = operand.position;
            return true;
        }
    for (const auto& child : expr.children)
        if (has_parameter(*child, position)) return true;
    return false;
}

// A channel's "where": the grammar of live queries' filters (filter/where_parser.h), without $n
// (nobody supplies their values), on columns the table replicates. The columns' types are checked
// where the table's catalog is known (pgsync-serve, pgsync-publish).
void read_channel_where(Reader& reader, const YamlNode& channel_node, const std::string& context,
                        const Table& table, Channel& channel) {
    const YamlNode* node = Reader::find(channel_node, "where");
    reader.read(channel_node, "where", context, channel.where);
    if (!node || !channel.where.set) return;
    filter::ParseResult parsed = filter::parse_where(channel.where.value);
    if (!parsed.ok()) {
        reader.error(origin_at(*node, parsed.error.position),
                     "invalid \"where\" in \"" + context + "\": " + parsed.error.message,
                     "Write a filter as a client's where, e.g. where: \"group_name = 'party'\".");
        return;
    }
    std::size_t parameter = 0;
    if (has_parameter(*parsed.expr, parameter))
        reader.error(origin_at(*node, parameter),
                     "\"where\" in \"" + context + "\" must not use parameters ($n)",
                     "A channel has no client to supply values: write the value itself.");
    if (!table.columns) return;
    std::vector<std::pair<std::string, std::size_t>> columns;
    referenced_columns(*parsed.expr, columns);
    for (const auto& column : columns) {
        // Not a structured binding: clang 14 (the fuzz build) refuses capturing one in a lambda.
        const std::string& name = column.first;
        const std::size_t position = column.second;
        const auto& listed = *table.columns;
        if (std::none_of(listed.begin(), listed.end(),
                         [&](const auto& c) { return c.value == name; }))
            reader.error(origin_at(*node, position),
                         "column \"" + name + "\" in \"where\" of \"" + context +
                             "\" is not in the table's \"columns\"",
                         "Add it to \"columns\", or correct the name.");
    }
}

void read_channels(Reader& reader, const YamlNode& list, const std::string& context, Table& table,
                   FileNames& names) {
    for (std::size_t i = 0; i < list.items.size(); ++i) {
        const YamlNode& item = list.items[i];
        const std::string here = context + ".channels[" + std::to_string(i) + "]";
        const std::string called =
            "channel at index " + std::to_string(i) + " in \"" + context + '"';
        if (item.kind != YamlNode::Kind::Mapping) {
            reader.error(item.origin,
                         called + " must be a mapping, not " + type_phrase(node_type(item)));
            continue;
        }
        reader.check_keys(item, here, {"name", "operations", "where"});
        Channel channel;
        channel.origin = item.origin;
        if (!Reader::given(item, "name")) reader.error(item.origin, called + " has no \"name\"");
        reader.read(item, "name", here, channel.name);
        if (channel.name.set) {
            auto [it, inserted] =
                names.channels.emplace(channel.name.value, channel.name.origin.line);
            if (!inserted)
                reader.error(channel.name.origin,
                             "duplicate channel name \"" + channel.name.value + '"',
                             first_at("channel named \"" + channel.name.value + '"', it->second));
        }
        read_operations(reader, item, here, channel);
        read_channel_where(reader, item, here, table, channel);
        table.channels.push_back(std::move(channel));
    }
}

void read_columns(Reader& reader, const YamlNode& table_node, const std::string& context,
                  Table& table) {
    const YamlNode* node = Reader::find(table_node, "columns");
    if (!node || node->kind == YamlNode::Kind::Null) return; // every column
    if (!reader.expect(*node, NodeType::List, "columns", context)) return;
    if (node->items.empty()) {
        reader.error(node->origin, subject("columns", context) + " must not be empty",
                     "Leave out \"columns\" to replicate every column.");
        return;
    }
    std::vector<Value<std::string>> columns;
    reader.read_strings(*node, "columns", context, columns);
    std::map<std::string, int> seen;
    table.columns.emplace();
    for (auto& column : columns) {
        auto [it, inserted] = seen.emplace(column.value, column.origin.line);
        if (!inserted) {
            reader.error(column.origin,
                         "duplicate column \"" + column.value + "\" in \"" + context + '"',
                         first_at('"' + column.value + '"', it->second));
            continue;
        }
        table.columns->push_back(std::move(column));
    }
}

void read_table(Reader& reader, const YamlNode& item, std::size_t index, FileNames& names,
                Table& table) {
    const std::string context = "tables[" + std::to_string(index) + "]";
    table.origin = item.origin;
    reader.check_keys(item, context, {"name", "columns", "live_queries", "channels"});
    if (!Reader::given(item, "name"))
        reader.error(item.origin, "table at index " + std::to_string(index) + " has no \"name\"",
                     "Name the table as name or schema.name, e.g. name: public.messages.");
    reader.read(item, "name", context, table.name);
    if (table.name.set) {
        std::optional<TableName> parsed = parse_table_name(table.name.value);
        if (!parsed) {
            reader.error(
                table.name.origin, "invalid table name \"" + table.name.value + '"',
                "Write name or schema.name; double-quote an identifier that needs it, e.g. "
                "'\"My Schema\".\"T\"'.");
        } else {
            auto [it, inserted] = names.tables.emplace(std::pair{parsed->schema, parsed->name},
                                                       table.name.origin.line);
            if (!inserted)
                reader.error(table.name.origin, "duplicate table name \"" + table.name.value + '"',
                             first_at("table with this name", it->second));
        }
    }
    read_columns(reader, item, context, table);
    const YamlNode* live_queries = Reader::find(item, "live_queries");
    if (live_queries && reader.expect(*live_queries, NodeType::List, "live_queries", context))
        read_live_queries(reader, *live_queries, context, table);
    const YamlNode* channels = Reader::find(item, "channels");
    if (channels && reader.expect(*channels, NodeType::List, "channels", context))
        read_channels(reader, *channels, context, table, names);
}

} // namespace

void read_tables(Reader& reader, const YamlNode& root, std::vector<Table>& tables) {
    const YamlNode* node = Reader::find(root, "tables");
    if (!node || node->kind == YamlNode::Kind::Null) return;
    if (!reader.expect(*node, NodeType::List, "tables", "")) return;
    FileNames names;
    for (std::size_t i = 0; i < node->items.size(); ++i) {
        const YamlNode& item = node->items[i];
        if (item.kind != YamlNode::Kind::Mapping) {
            reader.error(item.origin, "table at index " + std::to_string(i) +
                                          " must be a mapping, not " +
                                          type_phrase(node_type(item)));
            continue;
        }
        Table table;
        read_table(reader, item, i, names, table);
        tables.push_back(std::move(table));
    }
}

} // namespace pgsync::config
