// read_schema_header: one query on pg_attribute and pg_type, and the columns' typmods decoded the
// way Electric's Electric.Schema does it (its clauses in its order), written as hand-built JSON so
// the keys keep a fixed order.
#include "serve/electric/schema_header.h"

#include "record/json_text.h"
#include "util/error.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

namespace pgsync::serve::electric {

namespace {

struct ColumnType {
    std::string name;
    std::string type_name; // typname, or the element's typname for an array
    bool is_array = false;
    int dims = 0;
    bool not_null = false;
    int32_t typmod = -1;
};

void append_member(std::string& out, std::string_view key, long value) {
    out += ",\"";
    out += key;
    out += "\":";
    out += std::to_string(value);
}

// The interval's range bits (the typmod's high half) as Electric names them: the units present,
// one alone or "FIRST TO LAST", in the order YEAR, MONTH, DAY, HOUR, MINUTE, SECOND (the bits are
// PostgreSQL's INTERVAL_MASK values). Empty for the full range, which means no fields were given.
std::string interval_fields(int range) {
    static constexpr std::pair<int, const char*> kUnits[] = {
        {1 << 2, "YEAR"},  {1 << 1, "MONTH"},   {1 << 3, "DAY"},
        {1 << 10, "HOUR"}, {1 << 11, "MINUTE"}, {1 << 12, "SECOND"},
    };
    if (range == 0x7fff) return {};
    const char* first = nullptr;
    const char* last = nullptr;
    int count = 0;
    for (const auto& [mask, unit] : kUnits) {
        if (!(range & mask)) continue;
        if (!first) first = unit;
        last = unit;
        ++count;
    }
    if (count == 0) return {};
    if (count == 1) return first;
    return std::string(first) + " TO " + last;
}

// The modifiers, by Electric's clauses in their order (the first that matches applies): varchar
// and text(n) with a length, bpchar with a length, bit and varbit (always, so an unconstrained
// varbit gets -1), interval, time types with a precision above 0, numeric, then any typmod raw.
// So time(0) gets "type_mod":0, as Electric sends it.
void append_modifiers(std::string& out, const ColumnType& column) {
    const std::string_view type = column.type_name;
    const int32_t typmod = column.typmod;
    if (typmod > 0 && (type == "varchar" || type == "text")) {
        append_member(out, "max_length", typmod - 4);
    } else if (typmod > 0 && type == "bpchar") {
        append_member(out, "length", typmod - 4);
    } else if (type == "bit" || type == "varbit") {
        append_member(out, "length", typmod);
    } else if (type == "interval" && typmod > -1) {
        const int range = int16_t(uint32_t(typmod) >> 16);
        const int precision = int16_t(uint32_t(typmod) & 0xffff);
        if (precision != -1) append_member(out, "precision", precision);
        std::string fields = interval_fields(range);
        if (!fields.empty()) {
            out += ",\"fields\":";
            record::append_json_string(out, fields);
        }
    } else if (typmod > 0 && (type == "time" || type == "timetz" || type == "timestamp" ||
                              type == "timestamptz" || type == "date")) {
        append_member(out, "precision", typmod);
    } else if (type == "numeric" && typmod > -1) {
        const uint32_t packed = uint32_t(typmod - 4);
        append_member(out, "precision", int16_t(packed >> 16));
        append_member(out, "scale", int16_t(packed & 0xffff));
    } else if (typmod > -1) {
        append_member(out, "type_mod", typmod);
    }
}

} // namespace

std::string read_schema_header(pg::Connection& conn, const TableSchema& table,
                               const std::vector<int>& selected) {
    // An array is a type that is its element's array type (int2vector and oidvector have an
    // element too, but their text is no array literal: they keep their own name, like domains).
    pg::Result result = conn.exec_params(
        "SELECT a.attname, a.attnotnull, a.atttypmod, a.attndims, coalesce(e.typname, t.typname), "
        "e.oid IS NOT NULL "
        "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND e.typarray = t.oid "
        "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        {std::to_string(table.oid)},
        "could not read the column types of table \"" + table.display_name() + "\"");
    std::vector<ColumnType> catalog;
    catalog.reserve(size_t(result.rows()));
    for (int row = 0; row < result.rows(); ++row) {
        ColumnType column;
        column.name = result.str(row, 0);
        column.not_null = result.get(row, 1) == "t";
        column.typmod = int32_t(std::stol(result.str(row, 2)));
        column.type_name = result.str(row, 4);
        column.is_array = result.get(row, 5) == "t";
        // attndims is 0 after some DDL (CREATE TABLE ... AS, for one): an array has at least one.
        column.dims = column.is_array ? std::max(std::stoi(result.str(row, 3)), 1) : 0;
        catalog.push_back(std::move(column));
    }

    std::string out = "{";
    for (size_t i = 0; i < selected.size(); ++i) {
        const int index = selected[i];
        if (index < 0 || size_t(index) >= table.columns.size())
            throw Error("column " + std::to_string(index) + " of table \"" + table.display_name() +
                        "\" does not exist");
        const std::string& name = table.columns[size_t(index)].name;
        auto found = std::find_if(catalog.begin(), catalog.end(),
                                  [&](const ColumnType& column) { return column.name == name; });
        if (found == catalog.end())
            throw Error("column \"" + name + "\" of table \"" + table.display_name() +
                        "\" is no longer in the catalog");
        if (i > 0) out += ',';
        record::append_json_string(out, name);
        out += ":{\"type\":";
        record::append_json_string(out, found->type_name);
        if (found->is_array) append_member(out, "dims", found->dims);
        if (found->not_null) out += ",\"not_null\":true";
        auto key = std::find(table.key_columns.begin(), table.key_columns.end(), index);
        if (key != table.key_columns.end())
            append_member(out, "pk_index", long(key - table.key_columns.begin()));
        append_modifiers(out, *found);
        out += '}';
    }
    out += '}';
    return out;
}

} // namespace pgsync::serve::electric
