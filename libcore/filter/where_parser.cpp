// The where-clause lexer and recursive-descent parser: an allow-list of SQL, everything else an
// error that names the byte position and what was found. Never throws on bad input.
#include "filter/where_parser.h"

#include <algorithm>
#include <cstdio>

namespace pgsync::filter {

namespace {

constexpr size_t kMaxLength = 64 * 1024;
constexpr int kMaxDepth = 64;
constexpr int kMaxParam = 65535; // PostgreSQL's own limit on $n

enum class Tok {
    End,
    Ident,
    QuotedIdent,
    String,
    Number,
    Param,
    Compare,
    LParen,
    RParen,
    Comma,
    Minus
};

struct Token {
    Tok kind = Tok::End;
    size_t position = 0;
    size_t end = 0;
    std::string text; // Ident: lower-cased; QuotedIdent, String: unescaped; Number: as written
    CompareOp op = CompareOp::Eq;
    int param = 0;
};

bool is_ident_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_ident_char(unsigned char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Parser {
public:
    explicit Parser(std::string_view text) : m_text(text) {}

    ParseResult run() {
        ParseResult result;
        if (m_text.size() > kMaxLength) {
            result.error = {kMaxLength,
                            "where clause is too long (" + std::to_string(m_text.size()) +
                                " bytes, the limit is " + std::to_string(kMaxLength) + ")"};
            return result;
        }
        advance();
        std::unique_ptr<Expr> expr = parse_or(0);
        if (expr && !m_failed && m_token.kind != Tok::End) fail_unexpected(m_token, "");
        if (m_failed) {
            result.error = std::move(m_error);
            return result;
        }
        result.expr = std::move(expr);
        return result;
    }

private:
    // ---- errors ----

    void fail(size_t position, std::string message) {
        if (m_failed) return;
        m_failed = true;
        m_error = {position, std::move(message)};
    }

    // The raw text of a token, clipped and with non-printable bytes escaped, for messages.
    std::string quote_source(size_t begin, size_t end) const {
        std::string out = "\"";
        size_t limit = std::min(end, begin + 40);
        for (size_t i = begin; i < limit && i < m_text.size(); ++i) {
            unsigned char c = static_cast<unsigned char>(m_text[i]);
            if (c < 0x20 || c >= 0x7f) {
                char buffer[8];
                std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
                out += buffer;
            } else {
                out += char(c);
            }
        }
        if (limit < end) out += "...";
        out += '"';
        return out;
    }

    std::string describe(const Token& token) const {
        if (token.kind == Tok::End) return "end of input";
        return quote_source(token.position, token.end);
    }

    void fail_unexpected(const Token& token, std::string_view reason) {
        std::string message =
            "unexpected " + describe(token) + " at position " + std::to_string(token.position);
        if (!reason.empty()) message += ": " + std::string(reason);
        fail(token.position, std::move(message));
    }

    // ---- lexer ----

    void advance() {
        if (m_failed) {
            m_token = Token{};
            m_token.position = m_token.end = m_text.size();
            return;
        }
        m_token = lex();
    }

    Token lex() {
        while (m_pos < m_text.size() && is_space(m_text[m_pos]))
            ++m_pos;
        Token token;
        token.position = m_pos;
        if (m_pos >= m_text.size()) {
            token.kind = Tok::End;
            token.end = m_pos;
            return token;
        }
        const char c = m_text[m_pos];
        const char next = m_pos + 1 < m_text.size() ? m_text[m_pos + 1] : '\0';
        auto single = [&](Tok kind) {
            token.kind = kind;
            token.end = ++m_pos;
            return token;
        };
        auto compare = [&](CompareOp op, size_t length) {
            token.kind = Tok::Compare;
            token.op = op;
            m_pos += length;
            token.end = m_pos;
            return token;
        };
        auto refuse = [&](size_t length, std::string_view reason) {
            token.kind = Tok::Compare; // anything but End, so the message shows the text
            token.end = m_pos + length;
            fail_unexpected(token, reason);
            token.kind = Tok::End;
            return token;
        };
        switch (c) {
        case '(':
            return single(Tok::LParen);
        case ')':
            return single(Tok::RParen);
        case ',':
            return single(Tok::Comma);
        case '=':
            return compare(CompareOp::Eq, 1);
        case '<':
            if (next == '>') return compare(CompareOp::Ne, 2);
            if (next == '=') return compare(CompareOp::Le, 2);
            return compare(CompareOp::Lt, 1);
        case '>':
            if (next == '=') return compare(CompareOp::Ge, 2);
            return compare(CompareOp::Gt, 1);
        case '!':
            if (next == '=') return compare(CompareOp::Ne, 2);
            return refuse(1, "this operator is not supported");
        case '-':
            if (next == '-') return refuse(2, "comments are not supported");
            return single(Tok::Minus);
        case '/':
            if (next == '*') return refuse(2, "comments are not supported");
            return refuse(1, "arithmetic is not supported");
        case ';':
            return refuse(1, "only one condition is allowed, without \";\"");
        case ':':
            if (next == ':') return refuse(2, "type casts are not supported");
            return refuse(1, "");
        case '+':
        case '*':
        case '%':
        case '^':
            return refuse(1, "arithmetic is not supported");
        case '|':
        case '&':
        case '~':
        case '@':
        case '#':
        case '?':
        case '`':
            return refuse(1, "this operator is not supported");
        case '[':
        case ']':
            return refuse(1, "array subscripts are not supported");
        case '.':
            if (is_digit(next)) return lex_number(token);
            return refuse(1, "qualified column names are not supported");
        case '\'':
            return lex_string(token);
        case '"':
            return lex_quoted_ident(token);
        case '$':
            return lex_param(token);
        default:
            break;
        }
        if (is_digit(c)) return lex_number(token);
        if (is_ident_start(static_cast<unsigned char>(c))) {
            if ((c == 'e' || c == 'E') && next == '\'')
                return refuse(2, "escape string constants (E'...') are not supported");
            if ((c == 'u' || c == 'U') && next == '&')
                return refuse(2, "Unicode escape constants (U&'...') are not supported");
            size_t end = m_pos;
            while (end < m_text.size() && is_ident_char(static_cast<unsigned char>(m_text[end])))
                ++end;
            if (end < m_text.size() && m_text[end] == '\'')
                return refuse(end + 1 - m_pos, "typed and bit-string constants are not supported");
            token.kind = Tok::Ident;
            token.text.reserve(end - m_pos);
            for (size_t i = m_pos; i < end; ++i) {
                char ch = m_text[i];
                token.text += (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : ch;
            }
            m_pos = end;
            token.end = end;
            return token;
        }
        return refuse(1, "");
    }

    Token lex_number(Token& token) {
        size_t end = m_pos;
        while (end < m_text.size() && is_digit(m_text[end]))
            ++end;
        if (end < m_text.size() && m_text[end] == '.') {
            ++end;
            while (end < m_text.size() && is_digit(m_text[end]))
                ++end;
        }
        if (end < m_text.size() && (m_text[end] == 'e' || m_text[end] == 'E')) {
            size_t exponent = end + 1;
            if (exponent < m_text.size() && (m_text[exponent] == '+' || m_text[exponent] == '-'))
                ++exponent;
            if (exponent < m_text.size() && is_digit(m_text[exponent])) {
                end = exponent;
                while (end < m_text.size() && is_digit(m_text[end]))
                    ++end;
            }
        }
        token.kind = Tok::Number;
        token.text.assign(m_text.substr(m_pos, end - m_pos));
        m_pos = end;
        token.end = end;
        return token;
    }

    Token lex_string(Token& token) {
        size_t i = m_pos + 1;
        for (;;) {
            if (i >= m_text.size()) {
                fail(token.position,
                     "unterminated quoted string at position " + std::to_string(token.position));
                token.kind = Tok::End;
                return token;
            }
            if (m_text[i] == '\'') {
                if (i + 1 < m_text.size() && m_text[i + 1] == '\'') {
                    token.text += '\'';
                    i += 2;
                    continue;
                }
                break;
            }
            token.text += m_text[i++];
        }
        token.kind = Tok::String;
        m_pos = i + 1;
        token.end = m_pos;
        return token;
    }

    Token lex_quoted_ident(Token& token) {
        size_t i = m_pos + 1;
        for (;;) {
            if (i >= m_text.size()) {
                fail(token.position, "unterminated quoted identifier at position " +
                                         std::to_string(token.position));
                token.kind = Tok::End;
                return token;
            }
            if (m_text[i] == '"') {
                if (i + 1 < m_text.size() && m_text[i + 1] == '"') {
                    token.text += '"';
                    i += 2;
                    continue;
                }
                break;
            }
            token.text += m_text[i++];
        }
        m_pos = i + 1;
        token.end = m_pos;
        if (token.text.empty()) {
            fail(token.position,
                 "zero-length delimited identifier at position " + std::to_string(token.position));
            token.kind = Tok::End;
            return token;
        }
        token.kind = Tok::QuotedIdent;
        return token;
    }

    Token lex_param(Token& token) {
        size_t end = m_pos + 1;
        long long value = 0;
        while (end < m_text.size() && is_digit(m_text[end])) {
            if (value <= kMaxParam) value = value * 10 + (m_text[end] - '0');
            ++end;
        }
        token.end = end;
        if (end == m_pos + 1) {
            token.kind = Tok::Param;
            token.end = m_pos + 1;
            fail_unexpected(token, "expected a parameter number after \"$\"");
            token.kind = Tok::End;
            return token;
        }
        if (value < 1 || value > kMaxParam) {
            fail(token.position, "parameter " + quote_source(m_pos, end) + " at position " +
                                     std::to_string(token.position) + " is out of range (1 to " +
                                     std::to_string(kMaxParam) + ")");
            token.kind = Tok::End;
            return token;
        }
        token.kind = Tok::Param;
        token.param = int(value);
        m_pos = end;
        return token;
    }

    // ---- parser ----

    bool is_keyword(const Token& token, std::string_view word) const {
        return token.kind == Tok::Ident && token.text == word;
    }

    bool is_reserved(const Token& token) const {
        static constexpr std::string_view kReserved[] = {
            "and",    "or",      "not",   "in",     "is",    "null",     "between", "like",
            "ilike",  "true",    "false", "select", "from",  "where",    "case",    "when",
            "then",   "else",    "end",   "exists", "any",   "all",      "some",    "similar",
            "escape", "collate", "array", "cast",   "union", "symmetric"};
        if (token.kind != Tok::Ident) return false;
        for (std::string_view word : kReserved)
            if (token.text == word) return true;
        return false;
    }

    bool starts_constant(const Token& token) const {
        return token.kind == Tok::String || token.kind == Tok::Number || token.kind == Tok::Minus ||
               token.kind == Tok::Param || is_keyword(token, "null") || is_keyword(token, "true") ||
               is_keyword(token, "false");
    }

    bool starts_column(const Token& token) const {
        return token.kind == Tok::QuotedIdent || (token.kind == Tok::Ident && !is_reserved(token));
    }

    std::unique_ptr<Expr> parse_or(int depth) {
        if (depth > kMaxDepth) {
            fail(m_token.position, "where clause is nested too deeply at position " +
                                       std::to_string(m_token.position) + " (the limit is " +
                                       std::to_string(kMaxDepth) + " levels)");
            return nullptr;
        }
        std::unique_ptr<Expr> first = parse_and(depth);
        if (!first || !is_keyword(m_token, "or")) return first;
        auto node = std::make_unique<Expr>();
        node->kind = Expr::Kind::Or;
        node->children.push_back(std::move(first));
        while (!m_failed && is_keyword(m_token, "or")) {
            advance();
            std::unique_ptr<Expr> next = parse_and(depth);
            if (!next) return nullptr;
            node->children.push_back(std::move(next));
        }
        return m_failed ? nullptr : std::move(node);
    }

    std::unique_ptr<Expr> parse_and(int depth) {
        std::unique_ptr<Expr> first = parse_not(depth);
        if (!first || !is_keyword(m_token, "and")) return first;
        auto node = std::make_unique<Expr>();
        node->kind = Expr::Kind::And;
        node->children.push_back(std::move(first));
        while (!m_failed && is_keyword(m_token, "and")) {
            advance();
            std::unique_ptr<Expr> next = parse_not(depth);
            if (!next) return nullptr;
            node->children.push_back(std::move(next));
        }
        return m_failed ? nullptr : std::move(node);
    }

    std::unique_ptr<Expr> parse_not(int depth) {
        if (!is_keyword(m_token, "not")) return parse_primary(depth);
        if (depth + 1 > kMaxDepth) {
            fail(m_token.position, "where clause is nested too deeply at position " +
                                       std::to_string(m_token.position) + " (the limit is " +
                                       std::to_string(kMaxDepth) + " levels)");
            return nullptr;
        }
        advance();
        std::unique_ptr<Expr> operand = parse_not(depth + 1);
        if (!operand) return nullptr;
        auto node = std::make_unique<Expr>();
        node->kind = Expr::Kind::Not;
        node->children.push_back(std::move(operand));
        return node;
    }

    std::unique_ptr<Expr> parse_primary(int depth) {
        if (m_failed) return nullptr;
        if (m_token.kind == Tok::LParen) {
            advance();
            std::unique_ptr<Expr> inner = parse_or(depth + 1);
            if (!inner) return nullptr;
            if (m_token.kind != Tok::RParen) {
                fail_unexpected(m_token, "expected \")\"");
                return nullptr;
            }
            advance();
            return inner;
        }
        if (is_keyword(m_token, "true") || is_keyword(m_token, "false")) {
            // A lone TRUE / FALSE is a condition; followed by an operator it is a constant.
            Token saved = m_token;
            size_t saved_pos = m_pos;
            advance();
            if (m_token.kind != Tok::Compare && !m_failed) {
                auto node = std::make_unique<Expr>();
                node->kind = Expr::Kind::Constant;
                node->value = saved.text == "true";
                return node;
            }
            m_token = std::move(saved);
            m_pos = saved_pos;
        }
        if (starts_constant(m_token)) return parse_constant_first();
        if (starts_column(m_token)) return parse_predicate();
        if (m_token.kind == Tok::Ident) {
            if (m_token.text == "select")
                fail_unexpected(m_token, "subqueries are not supported");
            else if (m_token.text == "exists")
                fail_unexpected(m_token, "subqueries are not supported");
            else if (m_token.text == "case")
                fail_unexpected(m_token, "CASE expressions are not supported");
            else
                fail_unexpected(m_token, "expected a column name (quote a column named like a "
                                         "keyword: \"" +
                                             m_token.text + "\")");
            return nullptr;
        }
        fail_unexpected(m_token, "expected a condition");
        return nullptr;
    }

    // A constant on the left: only `constant <op> column`, normalized by flipping the operator.
    std::unique_ptr<Expr> parse_constant_first() {
        Operand left;
        if (!parse_constant(left)) return nullptr;
        if (m_token.kind != Tok::Compare) {
            fail_unexpected(m_token, "expected a comparison operator; the left side of IN, "
                                     "BETWEEN, LIKE and IS must be a column");
            return nullptr;
        }
        CompareOp op = m_token.op;
        advance();
        if (starts_constant(m_token)) {
            fail_unexpected(m_token, "comparisons between two constants are not supported");
            return nullptr;
        }
        if (!starts_column(m_token)) {
            fail_unexpected(m_token, "expected a column name");
            return nullptr;
        }
        auto node = std::make_unique<Expr>();
        node->kind = Expr::Kind::Compare;
        node->column = m_token.text;
        node->column_position = m_token.position;
        advance();
        if (!check_after_column(node->column_position)) return nullptr;
        switch (op) {
        case CompareOp::Lt:
            op = CompareOp::Gt;
            break;
        case CompareOp::Le:
            op = CompareOp::Ge;
            break;
        case CompareOp::Gt:
            op = CompareOp::Lt;
            break;
        case CompareOp::Ge:
            op = CompareOp::Le;
            break;
        default:
            break;
        }
        node->op = op;
        node->operands.push_back(std::move(left));
        return node;
    }

    // After a column name: refuse what would make it a function call or a qualified name.
    bool check_after_column(size_t) {
        if (m_token.kind == Tok::LParen) {
            fail_unexpected(m_token, "function calls are not supported");
            return false;
        }
        return !m_failed;
    }

    bool parse_constant(Operand& out) {
        out.position = m_token.position;
        switch (m_token.kind) {
        case Tok::String:
            out.kind = Operand::Kind::String;
            out.text = std::move(m_token.text);
            advance();
            return !m_failed;
        case Tok::Number:
            out.kind = Operand::Kind::Number;
            out.text = std::move(m_token.text);
            advance();
            return !m_failed;
        case Tok::Minus:
            advance();
            if (m_token.kind != Tok::Number) {
                fail_unexpected(m_token, "\"-\" must be followed by a number");
                return false;
            }
            out.kind = Operand::Kind::Number;
            out.text = "-" + m_token.text;
            advance();
            return !m_failed;
        case Tok::Param:
            out.kind = Operand::Kind::Param;
            out.param = m_token.param;
            advance();
            return !m_failed;
        case Tok::Ident:
            if (m_token.text == "null") {
                out.kind = Operand::Kind::Null;
                advance();
                return !m_failed;
            }
            if (m_token.text == "true" || m_token.text == "false") {
                out.kind = Operand::Kind::Boolean;
                out.text = m_token.text;
                advance();
                return !m_failed;
            }
            break;
        default:
            break;
        }
        if (starts_column(m_token)) {
            fail(m_token.position, "unexpected column " + describe(m_token) + " at position " +
                                       std::to_string(m_token.position) +
                                       ": comparing two columns is not supported");
            return false;
        }
        fail_unexpected(m_token, "expected a constant or a $n parameter");
        return false;
    }

    // column <op> constant | column [NOT] IN (...) | column IS [NOT] NULL
    // | column [NOT] BETWEEN a AND b | column [NOT] [I]LIKE pattern
    std::unique_ptr<Expr> parse_predicate() {
        auto node = std::make_unique<Expr>();
        node->column = m_token.text;
        node->column_position = m_token.position;
        Token column = m_token;
        advance();
        if (!check_after_column(node->column_position)) return nullptr;
        if (m_token.kind == Tok::Compare) {
            node->kind = Expr::Kind::Compare;
            node->op = m_token.op;
            advance();
            Operand operand;
            if (!parse_constant(operand)) return nullptr;
            node->operands.push_back(std::move(operand));
            return node;
        }
        if (is_keyword(m_token, "is")) {
            advance();
            if (is_keyword(m_token, "not")) {
                node->negated = true;
                advance();
            }
            if (!is_keyword(m_token, "null")) {
                fail_unexpected(m_token, "only IS NULL and IS NOT NULL are supported");
                return nullptr;
            }
            advance();
            node->kind = Expr::Kind::IsNull;
            return m_failed ? nullptr : std::move(node);
        }
        if (is_keyword(m_token, "not")) {
            node->negated = true;
            advance();
            if (!is_keyword(m_token, "in") && !is_keyword(m_token, "between") &&
                !is_keyword(m_token, "like") && !is_keyword(m_token, "ilike")) {
                fail_unexpected(m_token, "expected IN, BETWEEN, LIKE or ILIKE after NOT");
                return nullptr;
            }
        }
        if (is_keyword(m_token, "in")) {
            node->kind = Expr::Kind::In;
            advance();
            if (m_token.kind != Tok::LParen) {
                fail_unexpected(m_token, "expected \"(\" after IN");
                return nullptr;
            }
            advance();
            if (is_keyword(m_token, "select")) {
                fail_unexpected(m_token, "subqueries are not supported");
                return nullptr;
            }
            for (;;) {
                Operand operand;
                if (!parse_constant(operand)) return nullptr;
                node->operands.push_back(std::move(operand));
                if (m_token.kind == Tok::Comma) {
                    advance();
                    continue;
                }
                if (m_token.kind == Tok::RParen) break;
                fail_unexpected(m_token, "expected \",\" or \")\" in the IN list");
                return nullptr;
            }
            advance();
            return m_failed ? nullptr : std::move(node);
        }
        if (is_keyword(m_token, "between")) {
            node->kind = Expr::Kind::Between;
            advance();
            if (is_keyword(m_token, "symmetric") || is_keyword(m_token, "asymmetric")) {
                fail_unexpected(m_token, "BETWEEN SYMMETRIC is not supported");
                return nullptr;
            }
            Operand low;
            if (!parse_constant(low)) return nullptr;
            if (!is_keyword(m_token, "and")) {
                fail_unexpected(m_token, "expected AND in BETWEEN");
                return nullptr;
            }
            advance();
            Operand high;
            if (!parse_constant(high)) return nullptr;
            node->operands.push_back(std::move(low));
            node->operands.push_back(std::move(high));
            return node;
        }
        if (is_keyword(m_token, "like") || is_keyword(m_token, "ilike")) {
            node->kind = Expr::Kind::Like;
            node->case_insensitive = m_token.text == "ilike";
            advance();
            Operand pattern;
            if (!parse_constant(pattern)) return nullptr;
            if (is_keyword(m_token, "escape")) {
                fail_unexpected(m_token, "LIKE ... ESCAPE is not supported; the escape character "
                                         "is backslash");
                return nullptr;
            }
            node->operands.push_back(std::move(pattern));
            return node;
        }
        if (m_token.kind == Tok::End && !m_failed) {
            fail_unexpected(m_token, "expected an operator after column " +
                                         quote_source(column.position, column.end));
            return nullptr;
        }
        fail_unexpected(m_token, "expected an operator after column " +
                                     quote_source(column.position, column.end));
        return nullptr;
    }

    std::string_view m_text;
    size_t m_pos = 0;
    Token m_token;
    bool m_failed = false;
    ParseError m_error;
};

} // namespace

ParseResult parse_where(std::string_view text) {
    try {
        return Parser(text).run();
    } catch (const std::bad_alloc&) {
        ParseResult result;
        result.error = {0, "out of memory while parsing the where clause"};
        return result;
    }
}

} // namespace pgsync::filter
