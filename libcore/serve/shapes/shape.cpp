// Enter/leave and payload rendering for shapes.
#include "serve/shapes/shape.h"

#include "filter/evaluator.h"
#include "record/json_text.h"

#include <algorithm>

namespace pgsync::serve {

std::optional<std::string> make_shape(Shape& out, std::shared_ptr<const TableSchema> table,
                                      std::optional<filter::BoundFilter> filter,
                                      const std::vector<std::string>& columns) {
    out.selected.clear();
    if (columns.empty()) {
        for (size_t i = 0; i < table->columns.size(); ++i)
            out.selected.push_back(int(i));
    } else {
        for (const auto& name : columns) {
            int index = table->column_index(name);
            if (index < 0)
                return "column \"" + name + "\" does not exist in table \"" +
                       table->display_name() + "\"";
            out.selected.push_back(index);
        }
        std::sort(out.selected.begin(), out.selected.end());
        out.selected.erase(std::unique(out.selected.begin(), out.selected.end()),
                           out.selected.end());
    }
    out.identity = table->display_name() + "|" + (filter ? filter->canonical() : "") + "|";
    for (int i : out.selected)
        out.identity += std::to_string(i) + ",";
    out.needs_old_image = false;
    if (filter && !table->full_identity())
        for (int column : filter->referenced())
            if (!table->columns[size_t(column)].key) out.needs_old_image = true;
    out.table = std::move(table);
    out.filter = std::move(filter);
    return std::nullopt;
}

namespace {

bool fill_cells(const TableSchema& table, std::string_view object,
                std::vector<filter::Cell>& cells) {
    cells.assign(table.columns.size(), filter::Cell{});
    if (object.empty()) return true;
    size_t next = 0; // members come in column order: try the expected one first
    bool ok = true;
    bool well_formed =
        record::for_each_member(object, [&](std::string_view key, std::string_view value) {
            size_t index = table.columns.size();
            for (size_t n = 0; n < table.columns.size(); ++n) {
                size_t i = (next + n) % table.columns.size();
                if (table.json_names[i] == key) {
                    index = i;
                    break;
                }
            }
            if (index == table.columns.size()) {
                ok = false;
                return;
            }
            next = index + 1;
            cells[index] = value == "null" ? filter::Cell{filter::Cell::Kind::Null, {}}
                                           : filter::Cell{filter::Cell::Kind::Json, value};
        });
    return ok && well_formed;
}

void append_table_member(std::string& out, const TableSchema& table) {
    out += ",\"table\":";
    record::append_json_string(out, table.display_name());
}

} // namespace

void append_row_object(std::string& out, const TableSchema& table, const std::vector<int>& columns,
                       const std::vector<filter::Cell>& cells) {
    out += '{';
    bool first = true;
    for (int i : columns) {
        const filter::Cell& cell = cells[size_t(i)];
        if (cell.kind == filter::Cell::Kind::Absent) continue;
        if (!first) out += ',';
        first = false;
        out += table.json_names[size_t(i)];
        out += ':';
        if (cell.kind == filter::Cell::Kind::Null)
            out += "null";
        else
            out += cell.json;
    }
    out += '}';
}

bool read_row(const TableSchema& table, const record::ScannedRecord& record, RowImages& out) {
    if (record.op == "insert")
        out.op = RowImages::Op::Insert;
    else if (record.op == "update")
        out.op = RowImages::Op::Update;
    else if (record.op == "delete")
        out.op = RowImages::Op::Delete;
    else
        return false;
    if (!fill_cells(table, record.new_object, out.new_cells)) return false;
    if (!fill_cells(table, record.old_object, out.old_cells)) return false;
    out.has_old = !record.old_object.empty();
    out.old_full = record.identity == "full";
    out.unchanged.assign(table.columns.size(), 0);
    if (!record.unchanged_toast.empty())
        record::for_each_element(record.unchanged_toast, [&](std::string_view name) {
            for (size_t i = 0; i < table.columns.size(); ++i)
                if (table.json_names[i] == name) out.unchanged[i] = 1;
        });
    // An update without an old image kept its key: the key columns of the old row are the new
    // row's (the rest is unknown).
    if (out.op == RowImages::Op::Update && !out.has_old)
        for (int k : table.key_columns)
            out.old_cells[size_t(k)] = out.new_cells[size_t(k)];
    return true;
}

namespace {

// Whether every column the filter reads that the new image lacks is one the update left as it
// was: then an Unknown verdict cannot mean the row left the shape.
bool unknown_only_from_unchanged(const Shape& shape, const RowImages& row) {
    for (int column : shape.filter->referenced()) {
        const size_t i = size_t(column);
        if (row.new_cells[i].kind == filter::Cell::Kind::Absent &&
            !(i < row.unchanged.size() && row.unchanged[i]))
            return false;
    }
    return true;
}

} // namespace

ShapeOp classify(const Shape& shape, const RowImages& row) {
    using filter::Match;
    if (shape.channel) {
        const filter::BoundFilter* where = shape.filter ? &*shape.filter : nullptr;
        switch (row.op) {
        case RowImages::Op::Insert:
            return channels::row_belongs(*shape.channel, where, channels::kInsert, row.new_cells,
                                         row.old_cells)
                       ? ShapeOp::Insert
                       : ShapeOp::None;
        case RowImages::Op::Update:
            return channels::row_belongs(*shape.channel, where, channels::kUpdate, row.new_cells,
                                         row.old_cells)
                       ? ShapeOp::Update
                       : ShapeOp::None;
        case RowImages::Op::Delete:
            return channels::row_belongs(*shape.channel, where, channels::kDelete, row.new_cells,
                                         row.old_cells)
                       ? ShapeOp::Delete
                       : ShapeOp::None;
        }
        return ShapeOp::None;
    }
    auto match = [&](const std::vector<filter::Cell>& cells) {
        return shape.filter ? filter::evaluate(*shape.filter, cells) : Match::Yes;
    };
    switch (row.op) {
    case RowImages::Op::Insert:
        return match(row.new_cells) == Match::Yes ? ShapeOp::Insert : ShapeOp::None;
    case RowImages::Op::Delete: {
        Match old = match(row.old_cells);
        // Unknown: the key-only old image cannot tell; a key-only delete is harmless to a client
        // that does not hold the row, and missing it would leave a stale row (F7).
        return old == Match::No ? ShapeOp::None : ShapeOp::Delete;
    }
    case RowImages::Op::Update: {
        Match now = match(row.new_cells);
        Match before = match(row.old_cells);
        if (now == Match::Yes)
            return before == Match::Yes  ? ShapeOp::Update
                   : before == Match::No ? ShapeOp::Insert
                                         : ShapeOp::Update;
        if (before == Match::No) return ShapeOp::None;
        // An unchanged TOASTed value did not change (issue 9): a verdict left Unknown only by
        // such values keeps the row where it was, so it is an update, never a delete.
        if (now == Match::Unknown && unknown_only_from_unchanged(shape, row))
            return ShapeOp::Update;
        return ShapeOp::Delete; // left the shape (or may have: old image unknown)
    }
    }
    return ShapeOp::None;
}

void append_change_tail(std::string& out, const Shape& shape, ShapeOp op, const RowImages& row,
                        std::string_view offset_text, bool snapshot) {
    const TableSchema& table = *shape.table;
    out += op == ShapeOp::Insert   ? ",\"op\":\"insert\""
           : op == ShapeOp::Update ? ",\"op\":\"update\""
                                   : ",\"op\":\"delete\"";
    if (shape.channel) append_table_member(out, table);
    if (!offset_text.empty()) {
        out += ",\"offset\":\"";
        out += offset_text;
        out += '"';
    }
    if (snapshot) out += ",\"snapshot\":true";
    // The key comes from the image the client holds after the change (the old one for a delete).
    const bool from_old = op == ShapeOp::Delete;
    const auto& key_cells = from_old ? row.old_cells : row.new_cells;
    out += ",\"key\":";
    append_row_object(out, table, table.key_columns, key_cells);
    if (op != ShapeOp::Delete) {
        out += ",\"new\":";
        append_row_object(out, table, shape.selected, row.new_cells);
    }
    if (row.has_old && (op == ShapeOp::Delete || op == ShapeOp::Update)) {
        out += ",\"old\":";
        append_row_object(out, table, shape.selected, row.old_cells);
    }
    out += '}';
}

void append_truncate_tail(std::string& out, const Shape& shape, std::string_view offset_text) {
    out += ",\"op\":\"truncate\"";
    append_table_member(out, *shape.table);
    out += ",\"offset\":\"";
    out += offset_text;
    out += "\"}";
}

bool channel_takes_truncate(const Shape& shape) {
    return shape.channel && (shape.channel->ops & channels::kTruncate);
}

} // namespace pgsync::serve
