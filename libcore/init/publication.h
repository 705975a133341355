// The publication pgsync-init creates or verifies before the slot (S8). A publication pgsync-init
// created carries a comment so that --drop removes only what it made.
#pragma once

#include "pg/connection.h"
#include "pg/identifier.h"

#include <string>
#include <vector>

namespace pgsync::init {

inline constexpr const char* kPublicationComment = "created by pgsync-init";

struct PublicationRequest {
    std::string name;
    std::vector<pg::ResolvedTable> tables; // empty with all_tables
    bool all_tables = false;
};

// Creates the publication when missing (returns true), or verifies an existing one covers the
// request (returns false). Throws an Error that says which ALTER PUBLICATION to run otherwise.
bool ensure_publication(pg::Connection& conn, const PublicationRequest& request);

// Drops the publication if it exists and carries kPublicationComment; returns whether it did.
bool drop_publication_if_ours(pg::Connection& conn, const std::string& name);

} // namespace pgsync::init
