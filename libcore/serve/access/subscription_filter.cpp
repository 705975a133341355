// Building a subscription's filter from the client's tree, the allow-list and the token.
#include "serve/access/subscription_filter.h"

#include "filter/where_parser.h"

#include <algorithm>

namespace pgsync::serve {

namespace {

// Renumbers the $n of a tree by adding shift (the mandatory filter's parameters follow the
// client's).
void shift_params(filter::Expr& expr, int shift) {
    for (auto& operand : expr.operands)
        if (operand.kind == filter::Operand::Kind::Param) operand.param += shift;
    for (auto& child : expr.children)
        shift_params(*child, shift);
}

void flatten_and(const filter::Expr& expr, std::vector<const filter::Expr*>& out) {
    if (expr.kind == filter::Expr::Kind::And) {
        for (const auto& child : expr.children)
            flatten_and(*child, out);
    } else {
        out.push_back(&expr);
    }
}

const char* op_text(filter::CompareOp op) {
    switch (op) {
    case filter::CompareOp::Eq:
        return "=";
    case filter::CompareOp::Ne:
        return "<>";
    case filter::CompareOp::Lt:
        return "<";
    case filter::CompareOp::Le:
        return "<=";
    case filter::CompareOp::Gt:
        return ">";
    case filter::CompareOp::Ge:
        return ">=";
    }
    return "?";
}

} // namespace

bool matches_live_query(const filter::Expr* expr, const config::Table& table) {
    std::vector<std::pair<std::string, std::string>> given;
    if (expr) {
        std::vector<const filter::Expr*> parts;
        flatten_and(*expr, parts);
        for (const auto* part : parts) {
            if (part->kind != filter::Expr::Kind::Compare) return false;
            given.emplace_back(part->column, op_text(part->op));
        }
    }
    std::sort(given.begin(), given.end());
    for (const auto& query : table.live_queries) {
        std::vector<std::pair<std::string, std::string>> wanted;
        for (const auto& condition : query.conditions)
            wanted.emplace_back(condition.column.value, condition.op.value);
        std::sort(wanted.begin(), wanted.end());
        if (wanted == given) return true;
    }
    return false;
}

FilterResult subscription_filter(SubscribeRequest& request, const TableSchema& table,
                                 const TableGrant* grant, const config::Table* configured) {
    FilterResult result;
    std::unique_ptr<filter::Expr> expr = std::move(request.where);
    std::vector<std::optional<std::string>> params = request.params;
    if (configured && !configured->live_queries.empty() &&
        !matches_live_query(expr.get(), *configured)) {
        result.error_code = "not-allowed";
        result.error_message = "the filter is not one of the live queries configured for table \"" +
                               request.table_text + "\"";
        return result;
    }
    if (grant && !grant->where.empty()) {
        auto mandatory = filter::parse_where(grant->where);
        if (!mandatory.ok()) {
            result.error_code = "forbidden";
            result.error_message =
                "the token's filter for this table does not parse: " + mandatory.error.message;
            return result;
        }
        // With a key-only old image, a delete or an update of another tenant's row cannot be
        // judged by a filter on other columns, and would reach this client as a key-only delete:
        // its key and timing would leak across the grant. Refuse such grants (issue 9).
        if (!table.full_identity()) {
            auto alone = filter::bind(*mandatory.expr, table.columns, grant->params);
            if (alone.ok())
                for (int column : alone.filter->referenced())
                    if (!table.columns[size_t(column)].key) {
                        result.error_code = "forbidden";
                        result.error_message =
                            "the token's filter for table \"" + request.table_text +
                            "\" reads column \"" + table.columns[size_t(column)].name +
                            "\", which is not in the table's replica identity: deletes could "
                            "not be kept within the grant; the table needs REPLICA IDENTITY FULL "
                            "(ALTER TABLE " +
                            table.display_name() + " REPLICA IDENTITY FULL)";
                        return result;
                    }
        }
        shift_params(*mandatory.expr, int(params.size()));
        params.insert(params.end(), grant->params.begin(), grant->params.end());
        expr = expr ? filter::conjoin(std::move(expr), std::move(mandatory.expr))
                    : std::move(mandatory.expr);
    }
    if (!expr) return result;
    auto bound = filter::bind(*expr, table.columns, params);
    if (!bound.ok()) {
        result.error_code = "bad-filter";
        result.error_message = bound.error.message;
        return result;
    }
    result.filter = std::move(bound.filter);
    return result;
}

} // namespace pgsync::serve
