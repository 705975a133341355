// ConfirmMark: the highest slot position pgsync-serve has confirmed, written to DIR/confirmed
// (fsynced) before the server is told. A slot whose confirmed position is past it at startup was
// moved by someone else, or dropped and created again under the same name: the log no longer
// continues it, so the log starts a new epoch and clients refetch (cdc-hard-cases F4).
#pragma once

#include "util/lsn.h"

#include <optional>
#include <string>

namespace pgsync::serve {

class ConfirmMark {
public:
    explicit ConfirmMark(std::string dir) : m_path(std::move(dir) + "/confirmed") {}
    // The stored position, or nullopt when there is none (a new or older storage directory).
    std::optional<Lsn> read() const;
    // Writes lsn durably (temporary file, fsync, rename); throws pgsync::Error on failure.
    void write(Lsn lsn);

private:
    std::string m_path;
};

} // namespace pgsync::serve
