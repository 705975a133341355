// pgsync.yaml as text: the effective configuration of a loaded file (pgsync-config show) and a
// commented starting file (pgsync-config init). Both load back with zero diagnostics.
#pragma once

#include "config/config.h"

#include <string>

namespace pgsync::config {

// Every key with its value; values not from the file are marked "# default". With mask_secrets
// the password in source.dsn (conninfo or URI) shows as ****. Environment variable names are
// shown with "(set)" or "(not set)".
std::string render_effective(const Config& config, bool mask_secrets);

// A commented pgsync.yaml with every section and key explained.
std::string starter_file();

// The connection string with any password replaced by ****; other text unchanged.
std::string mask_password(const std::string& dsn);

} // namespace pgsync::config
