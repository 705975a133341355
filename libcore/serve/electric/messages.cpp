// Electric message rendering.
#include "serve/electric/messages.h"

#include "record/json_text.h"
#include "serve/electric/value_text.h"
#include "util/error.h"

namespace pgsync::serve::electric {

namespace {

// A schema or table name in Electric's key: '/' and '.' doubled, as Electric's build_key does, so
// that no name can run into the key's separators.
std::string key_part(const std::string& name) {
    std::string out = "\"";
    for (char c : name) {
        out += c;
        if (c == '/' || c == '.') out += c;
    }
    return out + '"';
}

} // namespace

MessageContext make_message_context(std::shared_ptr<const Shape> shape,
                                    std::shared_ptr<const pg::TypeCatalog> catalog,
                                    bool replica_full) {
    MessageContext context;
    const TableSchema& table = *shape->table;
    for (uint32_t oid : table.declared_type_oids)
        context.column_types.push_back(&catalog->get(oid));
    context.relation_json = "[" + table.schema_json + "," + table.name_json + "]";
    context.key_prefix = key_part(table.schema) + "." + key_part(table.name);
    context.replica_full = replica_full;
    context.shape = std::move(shape);
    context.catalog = std::move(catalog);
    return context;
}

namespace {

using filter::Cell;

thread_local std::string t_text;

// The PostgreSQL text of a JSON cell (into t_text).
const std::string& cell_text(const MessageContext& context, size_t column, const Cell& cell) {
    t_text.clear();
    if (!append_value_text(t_text, *context.column_types[column], cell.json))
        throw Error("a value of column \"" + context.shape->table->columns[column].name +
                    "\" of table \"" + context.shape->table->display_name() +
                    "\" does not fit its type \"" + context.column_types[column]->name + "\"");
    return t_text;
}

void append_key(std::string& out, const MessageContext& context,
                const std::vector<Cell>& cells) {
    std::string key = context.key_prefix;
    for (int k : context.shape->table->key_columns) {
        const Cell& cell = cells[size_t(k)];
        key += '/';
        if (cell.kind != Cell::Kind::Json) {
            key += '_'; // NULL (or unknown) key part, as Electric writes it
            continue;
        }
        key += '"';
        for (char c : cell_text(context, size_t(k), cell)) {
            key += c;
            if (c == '/') key += '/';
        }
        key += '"';
    }
    record::append_json_string(out, key);
}

bool is_key(const TableSchema& table, int column) {
    for (int k : table.key_columns)
        if (k == column) return true;
    return false;
}

// Appends {"col":"text",...}: the selected columns that `include` accepts and the image holds.
template <class Include>
void append_value(std::string& out, const MessageContext& context, const std::vector<Cell>& cells,
                  Include&& include) {
    const TableSchema& table = *context.shape->table;
    out += '{';
    bool first = true;
    for (int i : context.shape->selected) {
        const Cell& cell = cells[size_t(i)];
        if (cell.kind == Cell::Kind::Absent || !include(i)) continue;
        if (!first) out += ',';
        first = false;
        out += table.json_names[size_t(i)];
        out += ':';
        if (cell.kind == Cell::Kind::Null)
            out += "null";
        else
            record::append_json_string(out, cell_text(context, size_t(i), cell));
    }
    out += '}';
}

bool same_cell(const Cell& a, const Cell& b) {
    return a.kind == b.kind && (a.kind != Cell::Kind::Json || a.json == b.json);
}

void append_headers(std::string& out, const MessageContext& context, std::string_view operation,
                    const ChangeOrigin* origin, std::string_view extra) {
    out += ",\"headers\":{\"operation\":\"";
    out += operation;
    out += "\",\"relation\":";
    out += context.relation_json;
    out += extra;
    if (origin) {
        out += ",\"txids\":[";
        out += std::to_string(origin->xid);
        out += "],\"lsn\":\"";
        out += std::to_string(origin->lsn.value());
        out += "\",\"op_position\":";
        out += std::to_string(origin->op_position);
    }
    out += "}}";
}

} // namespace

int append_change(std::string& out, const MessageContext& context, ShapeOp op,
                  const RowImages& row, const ChangeOrigin* origin) {
    const TableSchema& table = *context.shape->table;
    auto all = [](int) { return true; };
    auto key_only = [&](int i) { return is_key(table, i); };
    // What a delete (or the delete half of a key change) carries: the old row, or its key.
    auto append_deleted_value = [&] {
        if (context.replica_full)
            append_value(out, context, row.old_cells, all);
        else
            append_value(out, context, row.old_cells, key_only);
    };
    switch (op) {
    case ShapeOp::None:
        return 0;
    case ShapeOp::Insert:
        out += ",{\"key\":";
        append_key(out, context, row.new_cells);
        out += ",\"value\":";
        append_value(out, context, row.new_cells, all);
        append_headers(out, context, "insert", origin, {});
        return 1;
    case ShapeOp::Delete:
        out += ",{\"key\":";
        append_key(out, context, row.old_cells);
        out += ",\"value\":";
        append_deleted_value();
        append_headers(out, context, "delete", origin, {});
        return 1;
    case ShapeOp::Update:
        break;
    }
    // An update that changed the key: the client holds the row under its old key.
    bool key_changed = false;
    for (int k : table.key_columns)
        if (!same_cell(row.old_cells[size_t(k)], row.new_cells[size_t(k)])) key_changed = true;
    if (key_changed) {
        std::string old_key, new_key;
        append_key(old_key, context, row.old_cells);
        append_key(new_key, context, row.new_cells);
        out += ",{\"key\":" + old_key + ",\"value\":";
        append_deleted_value();
        append_headers(out, context, "delete", origin, ",\"key_change_to\":" + new_key);
        out += ",{\"key\":" + new_key + ",\"value\":";
        append_value(out, context, row.new_cells, all);
        ChangeOrigin second;
        if (origin) {
            second = *origin;
            ++second.op_position; // Electric's +1 slot for a key-change split
        }
        append_headers(out, context, "insert", origin ? &second : nullptr,
                       ",\"key_change_from\":" + old_key);
        return 2;
    }
    // Which columns changed: known only against a full old image; otherwise every column the
    // new image holds (an unchanged TOAST value is Absent there, so it is not sent).
    auto changed = [&](int i) {
        return !row.old_full || !same_cell(row.old_cells[size_t(i)], row.new_cells[size_t(i)]);
    };
    out += ",{\"key\":";
    append_key(out, context, row.new_cells);
    out += ",\"value\":";
    if (context.replica_full)
        append_value(out, context, row.new_cells, all);
    else
        append_value(out, context, row.new_cells, [&](int i) { return is_key(table, i) || changed(i); });
    if (context.replica_full && row.old_full) {
        out += ",\"old_value\":";
        append_value(out, context, row.old_cells, [&](int i) {
            return changed(i) && row.new_cells[size_t(i)].kind != Cell::Kind::Absent;
        });
    }
    append_headers(out, context, "update", origin, {});
    return 1;
}

void add_to_last_headers(std::string& out, std::string_view members) {
    if (out.size() >= 2) out.insert(out.size() - 2, members);
}

std::string up_to_date_message(Lsn lsn) {
    return "{\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":\"" +
           std::to_string(lsn.value()) + "\"}}";
}

std::string snapshot_end_message(const XidSnapshot& snapshot) {
    std::string out = "{\"headers\":{\"control\":\"snapshot-end\",\"xmin\":\"" +
                      std::to_string(snapshot.xmin) + "\",\"xmax\":\"" +
                      std::to_string(snapshot.xmax) + "\",\"xip_list\":[";
    for (size_t i = 0; i < snapshot.xip.size(); ++i) {
        if (i) out += ',';
        out += '"' + std::to_string(snapshot.xip[i]) + '"';
    }
    return out + "]}}";
}

} // namespace pgsync::serve::electric
