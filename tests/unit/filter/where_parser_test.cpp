// parse_where accepts the allow-listed grammar with SQL precedence and case folding, and refuses
// everything else (functions, casts, subqueries, comments, ";", column-vs-column) with the byte
// position and what it found, including the injection strings of cdc-hard-cases F5.
#include "filter/where_parser.h"

#include <catch2/catch.hpp>
#include <string>

using namespace pgsync::filter;

namespace {

// A compact rendering of a parsed tree, to assert on structure.
std::string show(const Expr& expr) {
    static const char* kOps[] = {"=", "<>", "<", "<=", ">", ">="};
    auto operand = [](const Operand& o) -> std::string {
        switch (o.kind) {
        case Operand::Kind::String:
            return "'" + o.text + "'";
        case Operand::Kind::Number:
            return o.text;
        case Operand::Kind::Boolean:
            return o.text;
        case Operand::Kind::Null:
            return "null";
        case Operand::Kind::Param:
            return "$" + std::to_string(o.param);
        }
        return "?";
    };
    std::string out;
    switch (expr.kind) {
    case Expr::Kind::And:
    case Expr::Kind::Or:
        out = expr.kind == Expr::Kind::And ? "and(" : "or(";
        for (size_t i = 0; i < expr.children.size(); ++i)
            out += (i ? "," : "") + show(*expr.children[i]);
        return out + ")";
    case Expr::Kind::Not:
        return "not(" + show(*expr.children[0]) + ")";
    case Expr::Kind::Constant:
        return expr.value ? "TRUE" : "FALSE";
    case Expr::Kind::Compare:
        return expr.column + kOps[int(expr.op)] + operand(expr.operands[0]);
    case Expr::Kind::In:
        out = expr.column + (expr.negated ? " notin(" : " in(");
        for (size_t i = 0; i < expr.operands.size(); ++i)
            out += (i ? "," : "") + operand(expr.operands[i]);
        return out + ")";
    case Expr::Kind::IsNull:
        return expr.column + (expr.negated ? " notnull" : " isnull");
    case Expr::Kind::Between:
        return expr.column + (expr.negated ? " notbetween " : " between ") +
               operand(expr.operands[0]) + "," + operand(expr.operands[1]);
    case Expr::Kind::Like:
        return expr.column + (expr.negated ? " not" : " ") +
               (expr.case_insensitive ? "ilike " : "like ") + operand(expr.operands[0]);
    }
    return "?";
}

std::string parsed(std::string_view text) {
    ParseResult result = parse_where(text);
    if (!result.ok()) return "error: " + result.error.message;
    return show(*result.expr);
}

ParseError error_of(std::string_view text) {
    ParseResult result = parse_where(text);
    REQUIRE_FALSE(result.ok());
    return result.error;
}

} // namespace

TEST_CASE("where parser: comparisons, literals and parameters", "[filter]") {
    CHECK(parsed("group_name = $1 AND message_timestamp > $2") ==
          "and(group_name=$1,message_timestamp>$2)");
    CHECK(parsed("a <> 'it''s'") == "a<>'it's'");
    CHECK(parsed("a != -1.5e3") == "a<>-1.5e3");
    CHECK(parsed("a<=.5") == "a<=.5");
    CHECK(parsed("a >= TRUE") == "a>=true");
    CHECK(parsed("a = NULL") == "a=null");
    CHECK(parsed("TRUE") == "TRUE");
    CHECK(parsed("NOT false") == "not(FALSE)");
}

TEST_CASE("where parser: identifiers fold like PostgreSQL, quoted ones keep case", "[filter]") {
    CHECK(parsed("GroupName = 1") == "groupname=1");
    CHECK(parsed("\"GroupName\" = 1") == "GroupName=1");
    CHECK(parsed("\"a \"\"b\"\"\" = 1") == "a \"b\"=1");
    CHECK(parsed("\"select\" = 1") == "select=1");
    CHECK(parsed("a = 1 aNd B = 2 Or c = 3") == "or(and(a=1,b=2),c=3)");
}

TEST_CASE("where parser: NOT binds tighter than AND, AND tighter than OR", "[filter]") {
    CHECK(parsed("a = 1 OR b = 2 AND c = 3") == "or(a=1,and(b=2,c=3))");
    CHECK(parsed("(a = 1 OR b = 2) AND c = 3") == "and(or(a=1,b=2),c=3)");
    CHECK(parsed("NOT a = 1 AND b = 2") == "and(not(a=1),b=2)");
    CHECK(parsed("NOT (a = 1 AND b = 2)") == "not(and(a=1,b=2))");
    CHECK(parsed("NOT NOT a = 1") == "not(not(a=1))");
}

TEST_CASE("where parser: IN, IS NULL, BETWEEN, LIKE and their negations", "[filter]") {
    CHECK(parsed("a IN (1, 'x', $2, NULL)") == "a in(1,'x',$2,null)");
    CHECK(parsed("a NOT IN (1)") == "a notin(1)");
    CHECK(parsed("a IS NULL") == "a isnull");
    CHECK(parsed("a is not null") == "a notnull");
    CHECK(parsed("a BETWEEN 1 AND 5 AND b = 2") == "and(a between 1,5,b=2)");
    CHECK(parsed("a NOT BETWEEN $1 AND $2") == "a notbetween $1,$2");
    CHECK(parsed("a LIKE 'x%'") == "a like 'x%'");
    CHECK(parsed("a NOT ILIKE $1") == "a notilike $1");
}

TEST_CASE("where parser: a constant on the left flips the operator", "[filter]") {
    CHECK(parsed("5 < a") == "a>5");
    CHECK(parsed("5 <= a") == "a>=5");
    CHECK(parsed("'x' > a") == "a<'x'");
    CHECK(parsed("$1 >= a") == "a<=$1");
    CHECK(parsed("1 = a") == "a=1");
    CHECK(parsed("TRUE <> a") == "a<>true");
}

TEST_CASE("where parser: unsupported syntax is refused with position and reason", "[filter]") {
    ParseError e = error_of("lower(name) = 'x'");
    CHECK(e.position == 5);
    CHECK(e.message == "unexpected \"(\" at position 5: function calls are not supported");
    e = error_of("created_at::date = '2026-01-01'");
    CHECK(e.position == 10);
    CHECK(e.message == "unexpected \"::\" at position 10: type casts are not supported");
    e = error_of("a = b");
    CHECK(e.position == 4);
    CHECK(e.message ==
          "unexpected column \"b\" at position 4: comparing two columns is not supported");
    e = error_of("a IN (SELECT id FROM t)");
    CHECK(e.message == "unexpected \"SELECT\" at position 6: subqueries are not supported");
    e = error_of("a = 1 -- comment");
    CHECK(e.message == "unexpected \"--\" at position 6: comments are not supported");
    e = error_of("a = 1 /* c */");
    CHECK(e.position == 6);
    e = error_of("a = E'\\n'");
    CHECK(e.message ==
          "unexpected \"E'\" at position 4: escape string constants (E'...') are not supported");
    e = error_of("a = 1 + 2");
    CHECK(e.message == "unexpected \"+\" at position 6: arithmetic is not supported");
    e = error_of("a = $0");
    CHECK(e.position == 4);
    CHECK(e.message.find("out of range") != std::string::npos);
    e = error_of("a = 'open");
    CHECK(e.message == "unterminated quoted string at position 4");
    e = error_of("\"\" = 1");
    CHECK(e.message == "zero-length delimited identifier at position 0");
    e = error_of("a IS TRUE");
    CHECK(e.message ==
          "unexpected \"TRUE\" at position 5: only IS NULL and IS NOT NULL are supported");
    e = error_of("a = 1 b");
    CHECK(e.message == "unexpected \"b\" at position 6");
    e = error_of("a =");
    CHECK(e.message ==
          "unexpected end of input at position 3: expected a constant or a $n parameter");
    e = error_of("t.a = 1");
    CHECK(e.position == 1);
    e = error_of("a = 1\x01");
    CHECK(e.message == "unexpected \"\\x01\" at position 5");
}

TEST_CASE("where parser: injection attempts do not parse", "[filter]") {
    ParseError e = error_of("1=1) OR (1=1");
    CHECK(e.position == 2);
    CHECK(e.message == "unexpected \"1\" at position 2: comparisons between two constants are not "
                       "supported");
    e = error_of("tenant_id = 1) OR (1=1");
    CHECK(e.message == "unexpected \")\" at position 13");
    e = error_of("x' OR id LIKE '%");
    CHECK(e.message == "unexpected \"x'\" at position 0: typed and bit-string constants are not "
                       "supported");
    e = error_of("a = 1; DROP TABLE x");
    CHECK(e.position == 5);
    CHECK(e.message.starts_with("unexpected \";\" at position 5"));
    e = error_of("; DROP TABLE x");
    CHECK(e.position == 0);
    // A quote inside a string literal stays inside the value.
    CHECK(parsed("name = 'x'' OR id LIKE ''%'") == "name='x' OR id LIKE '%'");
}

TEST_CASE("where parser: nesting and length are bounded", "[filter]") {
    std::string deep = std::string(64, '(') + "a = 1" + std::string(64, ')');
    CHECK(parse_where(deep).ok());
    std::string too_deep = std::string(65, '(') + "a = 1" + std::string(65, ')');
    ParseError e = error_of(too_deep);
    CHECK(e.message.find("nested too deeply") != std::string::npos);
    std::string nots;
    for (int i = 0; i < 100000; ++i)
        nots += "NOT ";
    CHECK_FALSE(parse_where(nots + "a = 1").ok());
    std::string long_text = "a = '" + std::string(70000, 'x') + "'";
    e = error_of(long_text);
    CHECK(e.message == "where clause is too long (70006 bytes, the limit is 65536)");
    std::string long_or = "a = 1";
    for (int i = 0; i < 3000; ++i)
        long_or += " OR a = 1";
    ParseResult wide = parse_where(long_or);
    REQUIRE(wide.ok());
    CHECK(wide.expr->children.size() == 3001);
}

TEST_CASE("where parser: conjoin builds an AND node of two trees", "[filter]") {
    auto enforced = parse_where("tenant = $1").expr;
    auto client = parse_where("a = 1 OR b = 2").expr;
    auto both = conjoin(std::move(enforced), std::move(client));
    CHECK(show(*both) == "and(tenant=$1,or(a=1,b=2))");
    CHECK(show(*both->clone()) == show(*both));
}
