// The confirm mark file.
#include "changelog/confirm_mark.h"

#include "util/durable_file.h"

namespace pgsync::serve {

std::optional<Lsn> ConfirmMark::read() const {
    std::optional<std::string> text = read_small_file(m_path);
    if (!text) return std::nullopt;
    return Lsn::parse(text->substr(0, text->find('\n')));
}

void ConfirmMark::write(Lsn lsn) {
    write_file_durably(m_path, lsn.str() + "\n");
}

} // namespace pgsync::serve
