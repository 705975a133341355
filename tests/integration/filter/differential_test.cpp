// The C++ evaluator agrees with PostgreSQL: for hand-written and a few thousand generated filters
// over a table with a column of every supported type and edge values, the rows PostgreSQL returns
// for the rendered SQL are exactly the rows evaluate() accepts on the to_json() of each row.
#include "filter/bound_filter.h"
#include "filter/evaluator.h"
#include "filter/render_sql.h"
#include "filter/where_parser.h"
#include "pg/connection.h"
#include "pg_test.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using pgsync::filter::BoundFilter;
using pgsync::filter::Cell;
using pgsync::filter::Match;
using pgsync::filter::TableColumn;
using pgsync::pg::Connection;
using pgsync::pg::quote_ident;

namespace {

using Params = std::vector<std::optional<std::string>>;

// The columns and, for each, values to insert and to compare with (PostgreSQL input text).
struct ColumnSpec {
    const char* name;
    const char* type;
    std::vector<std::string> values;
    bool numeric_literals = false; // may be written as unquoted numbers in the where text
    bool text = false;             // LIKE applies
};

const std::vector<ColumnSpec>& specs() {
    static const std::vector<ColumnSpec> all = {
        {"b", "bool", {"t", "f"}},
        {"i2", "int2", {"-32768", "32767", "0", "1", "-1", "42", "100", "7"}, true},
        {"i4", "int4", {"-2147483648", "2147483647", "0", "1", "-1", "42", "100", "7"}, true},
        {"i8",
         "int8",
         {"-9223372036854775808", "9223372036854775807", "0", "1", "-1", "42", "9007199254740993",
          "7"},
         true},
        {"num",
         "numeric",
         {"0", "1.50", "1.5", "-0.001", "NaN", "Infinity", "-Infinity",
          "123456789012345678901234567890.123456789", "0.00000000000000000001", "100", "42",
          "42.000", "-42", "7"},
         true},
        {"f8",
         "float8",
         {"NaN", "Infinity", "-Infinity", "0", "-0", "1.1", "0.1", "1e308", "-2.5", "42",
          "4.9e-324", "7"},
         true},
        {"f4",
         "float4",
         {"NaN", "Infinity", "-Infinity", "1.1", "0", "-0", "3.4e38", "42", "0.1", "7"},
         true},
        {"t",
         "text",
         {"",
          "a",
          "A",
          "abc",
          "ABC",
          "\xc3\xa9",
          "\xc3\x89",
          "\xc3\x9f",
          "\xe6\x97\xa5\xe6\x9c\xac",
          "a%b",
          "a_b",
          "a\\b",
          "it's",
          "say \"hi\"",
          "party_chat",
          "Party_Chat",
          "x\ny",
          "100%",
          "\xf0\x9f\x98\x80",
          "z",
          " a",
          "ab",
          "a b"},
         false,
         true},
        {"v",
         "varchar(40)",
         {"", "a", "B", "abc", "ABC", "\xc3\xa9t\xc3\xa9", "a_c", "100%", "tab\there", "Z", "zz"},
         false,
         true},
        // Issue 9: a nondeterministic collation ('alice' = 'ALICE' in the database's own
        // comparisons) must not widen what the rendered SQL selects.
        {"ci",
         "text COLLATE pgsync_case_insensitive",
         {"alice", "ALICE", "Alice", "bob", "\xc3\xa9", "\xc3\x89", "e\xcc\x81", "a", "A", ""},
         false,
         true},
        {"u",
         "uuid",
         {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000",
          "ffffffff-ffff-ffff-ffff-ffffffffffff", "80000000-0000-0000-0000-000000000000",
          "7fffffff-ffff-ffff-ffff-ffffffffffff"}},
        {"d",
         "date",
         {"2026-11-19", "infinity", "-infinity", "0044-03-15 BC", "2000-02-29", "1999-12-31",
          "9999-12-31", "1970-01-01"}},
        {"ts",
         "timestamp",
         {"2026-11-19 10:00:00", "2026-11-19 10:00:00.123456", "infinity", "-infinity",
          "0044-03-15 12:00:00 BC", "1970-01-01 00:00:00", "2000-01-01 00:00:00.000001",
          "2026-11-19 09:59:59.999999"}},
        {"tz",
         "timestamptz",
         {"2026-11-19 10:00:00+00", "2026-11-19 15:30:00+05:30", "2026-11-19 10:00:00.5-08",
          "infinity", "-infinity", "0044-03-15 12:00:00+00 BC", "1970-01-01 00:00:00+00",
          "2026-11-19T10:00:00Z"}},
    };
    return all;
}

// Extra constants for filters only (values no row has, other spellings of row values).
std::vector<std::string> extra_constants(const std::string& column) {
    if (column == "b") return {"true", "no", "1", "off"};
    if (column == "num")
        return {"1.500000", "0042", "1e2", "-0", "nan", "-inf", "1.49999999999999999999"};
    if (column == "f8" || column == "f4") return {"nan", "inf", "-Infinity", "1.10", "41.9999"};
    if (column == "t" || column == "v") return {"aa", "b", "\xc3\xa9", "A%", "@"};
    if (column == "u")
        return {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"};
    if (column == "d") return {"2026-11-18", "0001-01-01", "0001-12-31 BC"};
    if (column == "ts") return {"2026-11-19T10:00:00Z", "2026-11-19 10:00:00+05", "2026-11-19"};
    if (column == "tz")
        return {"2026-11-19T05:00:00-05:00", "2026-11-19 10:00:00.000001", "2026-11-19"};
    return {"3", "-2"};
}

// Numbers an integer column is compared with as written (exactly, as numeric): valid only bare.
const std::vector<std::string> kBareNumbers = {"1.5",
                                               "100.0",
                                               "-32769",
                                               "2147483648",
                                               "1e2",
                                               "-0.5",
                                               "9223372036854775808",
                                               "41.99999999999999999"};

const std::vector<std::string> kLikePatterns = {
    "%a%",       "a_b", "A%",    "%\\%%", "_",      "%\xc3\xa9%",
    "\xc3\x89%", "%b",  "a\\_b", "%'%",   "party%", "%CHAT",
    "%",         "",    "__",    "a%b",   "%\\\\%", "\xc3\xa9_\xc3\xa9",
    "%Z%",       "_%_"};

std::string sql_literal(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

// Splits to_json(row)'s object into its members' raw tokens (numbers keep every digit).
std::vector<std::pair<std::string, std::string>> split_object(std::string_view json) {
    std::vector<std::pair<std::string, std::string>> members;
    size_t pos = 0;
    auto skip_space = [&] {
        while (pos < json.size() && (json[pos] == ' ' || json[pos] == '\n' || json[pos] == '\t'))
            ++pos;
    };
    auto string_end = [&](size_t start) { // start at the opening quote; returns past the closing
        size_t i = start + 1;
        while (i < json.size() && json[i] != '"')
            i += json[i] == '\\' ? 2 : 1;
        return i + 1;
    };
    skip_space();
    REQUIRE(json[pos] == '{');
    ++pos;
    for (;;) {
        skip_space();
        if (json[pos] == '}') break;
        size_t key_end = string_end(pos);
        std::string key(json.substr(pos + 1, key_end - pos - 2));
        pos = key_end;
        skip_space();
        REQUIRE(json[pos] == ':');
        ++pos;
        skip_space();
        size_t start = pos;
        if (json[pos] == '"') {
            pos = string_end(pos);
        } else {
            while (pos < json.size() && json[pos] != ',' && json[pos] != '}' && json[pos] != ' ')
                ++pos;
        }
        members.emplace_back(key, std::string(json.substr(start, pos - start)));
        skip_space();
        if (json[pos] == ',') ++pos;
    }
    return members;
}

class Differential {
public:
    Differential()
        : m_conn(pgsync::test::connect_test_db()),
          m_table(pgsync::test::unique_name("filter_diff")) {
        m_conn.exec("SET client_min_messages = warning");
        try { // tests run in parallel: another may create it first
            m_conn.exec("CREATE COLLATION IF NOT EXISTS pgsync_case_insensitive (provider = icu, "
                        "locale = 'und-u-ks-level2', deterministic = false)");
        } catch (const std::exception&) {
        }
        std::string create = "CREATE TABLE " + quote_ident(m_table) + " (id int4 PRIMARY KEY";
        for (const ColumnSpec& spec : specs())
            create += std::string(", ") + spec.name + " " + spec.type;
        m_conn.exec(create + ")");
    }
    ~Differential() {
        try {
            m_conn.exec("DROP TABLE IF EXISTS " + quote_ident(m_table));
        } catch (...) {
        }
    }

    void insert_rows(int count, std::mt19937& random) {
        std::string sql = "INSERT INTO " + quote_ident(m_table) + " VALUES ($1";
        for (size_t i = 0; i < specs().size(); ++i)
            sql += ", $" + std::to_string(i + 2);
        sql += ")";
        for (int id = 1; id <= count; ++id) {
            Params params{std::to_string(id)};
            for (const ColumnSpec& spec : specs()) {
                if (random() % 10 == 0) {
                    params.push_back(std::nullopt);
                } else {
                    params.push_back(spec.values[random() % spec.values.size()]);
                }
            }
            m_conn.exec_params(sql, params);
        }
    }

    void load() {
        auto columns = m_conn.exec_params(
            "SELECT attname, atttypid FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            {quote_ident(m_table)});
        for (int i = 0; i < columns.rows(); ++i)
            m_columns.push_back(
                {columns.str(i, 0), uint32_t(std::stoul(columns.str(i, 1))), i == 0});
        auto rows = m_conn.exec("SELECT id, to_json(r)::text FROM " + quote_ident(m_table) +
                                " r ORDER BY id");
        for (int r = 0; r < rows.rows(); ++r) {
            Row row;
            row.id = std::stoi(rows.str(r, 0));
            row.json = rows.str(r, 1);
            row.tokens = split_object(row.json);
            REQUIRE(row.tokens.size() == m_columns.size());
            m_rows.push_back(std::move(row));
        }
        for (Row& row : m_rows) // cells point into tokens, which no longer move
            for (size_t i = 0; i < row.tokens.size(); ++i) {
                REQUIRE(row.tokens[i].first == m_columns[i].name);
                const std::string& token = row.tokens[i].second;
                row.cells.push_back(token == "null" ? Cell{Cell::Kind::Null, {}}
                                                    : Cell{Cell::Kind::Json, token});
            }
    }

    // Checks one filter; returns false (after reporting) on a disagreement.
    bool check(const std::string& where, const Params& params) {
        auto parsed = pgsync::filter::parse_where(where);
        INFO("filter: " << where);
        if (!parsed.ok()) FAIL("parse error: " << parsed.error.message);
        auto bound = pgsync::filter::bind(*parsed.expr, m_columns, params);
        if (!bound.ok()) FAIL("bind error: " << bound.error.message);
        const BoundFilter& filter = *bound.filter;
        auto sql = pgsync::filter::render_sql(filter);
        Params sql_params(sql.params.begin(), sql.params.end());
        std::set<int> expected;
        try {
            auto result = m_conn.exec_params(
                "SELECT id FROM " + quote_ident(m_table) + " WHERE " + sql.sql, sql_params);
            for (int r = 0; r < result.rows(); ++r)
                expected.insert(std::stoi(result.str(r, 0)));
        } catch (const pgsync::Error& error) {
            FAIL("PostgreSQL refused " << sql.sql << ": " << error.what());
        }
        std::set<int> actual;
        for (const Row& row : m_rows) {
            Match match = pgsync::filter::evaluate(filter, row.cells);
            REQUIRE(match != Match::Unknown); // no cell is absent here
            if (match == Match::Yes) actual.insert(row.id);
        }
        ++m_checked;
        m_matched_rows += expected.size();
        if (expected == actual) return true;
        std::string report = "filter: " + where + "\nparams:";
        for (const auto& param : params)
            report += " " + (param ? sql_literal(*param) : "NULL");
        report += "\nsql: " + sql.sql + "\nsql params:";
        for (const auto& param : sql.params)
            report += " " + sql_literal(param);
        int shown = 0;
        for (const Row& row : m_rows) {
            bool in_pg = expected.count(row.id), in_cpp = actual.count(row.id);
            if (in_pg != in_cpp && shown++ < 5)
                report += std::string("\n  ") + (in_pg ? "only PostgreSQL" : "only C++") +
                          " matches " + row.json;
        }
        FAIL_CHECK(report);
        return false;
    }

    int checked() const { return m_checked; }
    size_t matched_rows() const { return m_matched_rows; }
    size_t row_count() const { return m_rows.size(); }

private:
    struct Row {
        int id = 0;
        std::string json;
        std::vector<std::pair<std::string, std::string>> tokens;
        std::vector<Cell> cells;
    };
    Connection m_conn;
    std::string m_table;
    std::vector<TableColumn> m_columns;
    std::vector<Row> m_rows;
    int m_checked = 0;
    size_t m_matched_rows = 0;
};

// Random where clauses over every column and operator, with constants from the row values.
class Generator {
public:
    explicit Generator(std::mt19937& random) : m_random(random) {}

    std::string where(Params& params, int depth = 0) {
        int choice = int(m_random() % 10);
        if (depth < 3 && choice < 2) {
            return "(" + where(params, depth + 1) + (choice == 0 ? " AND " : " OR ") +
                   where(params, depth + 1) + ")";
        }
        if (depth < 3 && choice == 2) return "NOT " + where(params, depth + 1);
        return leaf(params);
    }

private:
    size_t pick(size_t n) { return m_random() % n; }

    std::string constant(const ColumnSpec& spec, Params& params, bool allow_null = true) {
        if (allow_null && pick(25) == 0) return pick(2) ? "NULL" : param(std::nullopt, params);
        if (spec.numeric_literals && spec.name[0] == 'i' && pick(4) == 0)
            return kBareNumbers[pick(kBareNumbers.size())];
        std::vector<std::string> pool = spec.values;
        for (std::string& extra : extra_constants(spec.name))
            pool.push_back(std::move(extra));
        const std::string& value = pool[pick(pool.size())];
        if (spec.numeric_literals && pick(3) == 0 && !value.empty() &&
            (value[0] == '-' || (value[0] >= '0' && value[0] <= '9')) &&
            value.find_first_not_of("-0123456789.e") == std::string::npos) {
            // A bare number; but an int column with a big literal is numeric on both sides.
            return value;
        }
        if (pick(2) == 0) return param(value, params);
        return sql_literal(value);
    }

    std::string param(std::optional<std::string> value, Params& params) {
        params.push_back(std::move(value));
        return "$" + std::to_string(params.size());
    }

    std::string leaf(Params& params) {
        const ColumnSpec& spec = specs()[pick(specs().size())];
        std::string column = spec.name;
        static const char* kOps[] = {"=", "<>", "!=", "<", "<=", ">", ">="};
        switch (pick(spec.text ? 8 : 6)) {
        case 0:
        case 1:
            if (pick(4) == 0) return constant(spec, params) + " " + kOps[pick(7)] + " " + column;
            return column + " " + kOps[pick(7)] + " " + constant(spec, params);
        case 2: {
            std::string list;
            size_t count = 1 + pick(4);
            for (size_t i = 0; i < count; ++i)
                list += (i ? ", " : "") + constant(spec, params);
            return column + (pick(2) ? " NOT IN (" : " IN (") + list + ")";
        }
        case 3:
            return column + (pick(2) ? " IS NULL" : " IS NOT NULL");
        case 4:
        case 5:
            return column + (pick(3) == 0 ? " NOT BETWEEN " : " BETWEEN ") +
                   constant(spec, params) + " AND " + constant(spec, params);
        default: {
            const std::string& pattern = kLikePatterns[pick(kLikePatterns.size())];
            std::string op =
                std::string(pick(3) == 0 ? " NOT" : "") + (pick(2) ? " LIKE " : " ILIKE ");
            return column + op + (pick(2) ? sql_literal(pattern) : param(pattern, params));
        }
        }
    }

    std::mt19937& m_random;
};

} // namespace

TEST_CASE("filter differential: evaluate agrees with PostgreSQL on every type and operator",
          "[filter][integration]") {
    std::mt19937 random(20261119);
    Differential differential;
    differential.insert_rows(300, random);
    differential.load();
    REQUIRE(differential.row_count() == 300);

    const std::vector<std::pair<std::string, Params>> hand_written = {
        {"num = 1.5", {}},
        {"num = 'NaN'", {}},
        {"num > 1e100", {}},
        {"num >= 'Infinity'", {}},
        {"num = 42 AND num = 42.0000", {}},
        {"num < 0.00000000000000000002 AND num > 0", {}},
        {"i4 = 1.5 OR i2 < 1.5", {}},
        {"i4 < 1.5 AND i4 > -1.5", {}},
        {"i8 > 9223372036854775806", {}},
        {"i8 = 9007199254740993", {}},
        {"i8 < 9223372036854775808 AND i2 > -32769", {}},
        {"f8 = 'NaN'", {}},
        {"f8 > 'Infinity'", {}},
        {"f8 = 0", {}},
        {"f8 < 5e-324", {}},
        {"f4 = 1.1", {}},
        {"f4 = '1.1'", {}},
        {"f4 > 3.3e38", {}},
        {"t ILIKE '%\xc3\xa9%'", {}},
        {"t ILIKE '\xc3\x89'", {}},
        {"t ILIKE 'PARTY%'", {}},
        {"t LIKE '%\\%%'", {}},
        {"t LIKE '%\\\\%'", {}},
        {"t > 'Z' AND t < 'a'", {}},
        {"t >= '\xc3\xa9'", {}},
        {"t = $1", {std::string("say \"hi\"")}},
        {"t = 'x\ny' OR t = 'it''s'", {}},
        {"v BETWEEN 'A' AND 'Z'", {}},
        {"v NOT LIKE '%\\_%'", {}},
        {"d < '0001-01-01'", {}},
        {"d = 'infinity' OR d = '-infinity'", {}},
        {"d BETWEEN '2000-01-01' AND '2026-12-31'", {}},
        {"ts = '2026-11-19T10:00:00Z'", {}},
        {"ts > '2026-11-19 09:59:59.999999'", {}},
        {"ts < '0001-01-01'", {}},
        {"tz = '2026-11-19 15:30:00+05:30'", {}},
        {"tz = $1", {std::string("2026-11-19T18:00:00.5Z")}},
        {"tz > '2026-11-19' AND tz < 'infinity'", {}},
        {"u > '80000000-0000-0000-0000-000000000000'", {}},
        {"u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", {}},
        {"NOT (i2 IN (1, NULL))", {}},
        {"i2 NOT IN (1, 7)", {}},
        {"b = 'yes' OR b IS NULL", {}},
        {"NOT b = false", {}},
        {"(i4 = 42 OR t = 'a') AND NOT (num = 'NaN' OR f8 = 'NaN')", {}},
        {"t = $1 OR i4 = $2", {std::nullopt, std::string("7")}},
        {"TRUE", {}},
        {"FALSE OR id > 150", {}},
    };
    for (const auto& [where, params] : hand_written)
        differential.check(where, params);

    Generator generator(random);
    int failures = 0;
    for (int i = 0; i < 3000 && failures < 10; ++i) {
        Params params;
        std::string where = generator.where(params);
        if (!differential.check(where, params)) ++failures;
    }
    CHECK(failures == 0);
    CHECK(differential.checked() > 3000);
    // The filters select something: not a comparison of empty sets.
    CHECK(differential.matched_rows() > 100000);
}
