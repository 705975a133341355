// Copying and combining expression trees; see filter/expr.h.
#include "filter/expr.h"

namespace pgsync::filter {

std::unique_ptr<Expr> Expr::clone() const {
    auto copy = std::make_unique<Expr>();
    copy->kind = kind;
    copy->children.reserve(children.size());
    for (const auto& child : children)
        copy->children.push_back(child->clone());
    copy->column = column;
    copy->column_position = column_position;
    copy->op = op;
    copy->operands = operands;
    copy->negated = negated;
    copy->case_insensitive = case_insensitive;
    copy->value = value;
    return copy;
}

std::unique_ptr<Expr> conjoin(std::unique_ptr<Expr> a, std::unique_ptr<Expr> b) {
    if (!a) return b;
    if (!b) return a;
    auto node = std::make_unique<Expr>();
    node->kind = Expr::Kind::And;
    node->children.push_back(std::move(a));
    node->children.push_back(std::move(b));
    return node;
}

} // namespace pgsync::filter
