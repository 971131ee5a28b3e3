#include "cli/backend.h"

#include <sys/stat.h>

namespace ringlog::cli {

std::unique_ptr<Backend> open_backend(const CommonOptions& common, Access access) {
  if (!common.server.empty()) {
    auto backend = make_server_backend(common.server);
    if (!backend) {
      throw CommandFailure(
          kExitError,
          backend.error().message() + " (is `ringlog serve` running at " + common.server + "?)");
    }
    return std::move(*backend);
  }
  struct stat st {};
  if (access == Access::kRead && ::stat(common.data_dir.c_str(), &st) != 0) {
    throw CommandFailure(kExitError, "no data directory '" + common.data_dir +
                                         "': nothing has been produced there yet (pass --data DIR, "
                                         "or --server ADDR:PORT to use a running server)");
  }
  auto backend = make_embedded_backend(common.data_dir);
  if (!backend) {
    const Error& e = backend.error();
    if (e.code() == Errc::kBusy) {
      throw CommandFailure(kExitError,
                           "data directory '" + common.data_dir +
                               "' is in use by a running ringlog server (or another ringlog "
                               "command): talk to the server with --server ADDR:PORT, e.g. "
                               "--server " +
                               std::string(kDefaultListen));
    }
    fail_with(e, "cannot open data directory '" + common.data_dir + "'");
  }
  return std::move(*backend);
}

}  // namespace ringlog::cli
