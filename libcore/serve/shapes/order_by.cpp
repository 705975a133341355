// ORDER BY lists: a tiny tokenizer and an allow-list.
#include "serve/shapes/order_by.h"

#include "pg/connection.h"

#include <cctype>

namespace pgsync::serve {

namespace {

bool word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

bool same_word(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
    return true;
}

} // namespace

bool parse_order_by(std::string_view text, const TableSchema& table, std::vector<OrderTerm>& terms,
                    std::string& error) {
    terms.clear();
    size_t pos = 0;
    auto skip_space = [&] {
        while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
            ++pos;
    };
    auto fail = [&](const std::string& what) {
        error = "At location " + std::to_string(pos) + ": " + what;
        return false;
    };
    // The next bare word (lower-cased), or empty.
    auto word = [&]() -> std::string_view {
        skip_space();
        size_t start = pos;
        while (pos < text.size() && word_char(text[pos]))
            ++pos;
        return text.substr(start, pos - start);
    };
    for (;;) {
        if (terms.size() == 32) return fail("more than 32 ORDER BY terms");
        skip_space();
        std::string name;
        if (pos < text.size() && text[pos] == '"') {
            for (++pos;; ++pos) {
                if (pos >= text.size()) return fail("unterminated quoted identifier");
                if (text[pos] == '"') {
                    if (pos + 1 < text.size() && text[pos + 1] == '"') {
                        name += '"';
                        ++pos;
                        continue;
                    }
                    ++pos;
                    break;
                }
                name += text[pos];
            }
        } else {
            std::string_view bare = word();
            if (bare.empty() || std::isdigit(static_cast<unsigned char>(bare[0])))
                return fail("expected a column name");
            for (char c : bare)
                name += char(std::tolower(static_cast<unsigned char>(c)));
        }
        OrderTerm term;
        term.column = table.column_index(name);
        if (term.column < 0)
            return fail("column \"" + name + "\" does not exist in table \"" +
                        table.display_name() + "\"");
        size_t before = pos;
        std::string_view next = word();
        if (same_word(next, "asc") || same_word(next, "desc")) {
            term.direction =
                same_word(next, "asc") ? OrderTerm::Direction::Asc : OrderTerm::Direction::Desc;
            before = pos;
            next = word();
        }
        if (same_word(next, "nulls")) {
            std::string_view which = word();
            if (!same_word(which, "first") && !same_word(which, "last"))
                return fail("expected FIRST or LAST after NULLS");
            term.nulls =
                same_word(which, "first") ? OrderTerm::Nulls::First : OrderTerm::Nulls::Last;
        } else {
            pos = before;
        }
        terms.push_back(term);
        skip_space();
        if (pos == text.size()) return true;
        if (text[pos] != ',') return fail("unexpected \"" + std::string(1, text[pos]) + "\"");
        ++pos;
    }
}

std::string order_by_sql(const std::vector<OrderTerm>& terms, const TableSchema& table) {
    std::string sql;
    for (const OrderTerm& term : terms) {
        if (!sql.empty()) sql += ", ";
        sql += pg::quote_ident(table.columns[size_t(term.column)].name);
        if (term.direction != OrderTerm::Direction::Unsaid)
            sql += term.descending() ? " DESC" : " ASC";
        if (term.nulls != OrderTerm::Nulls::Unsaid)
            sql += term.nulls == OrderTerm::Nulls::First ? " NULLS FIRST" : " NULLS LAST";
    }
    return sql;
}

} // namespace pgsync::serve
