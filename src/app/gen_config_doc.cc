// holdfast_config_doc: prints docs/config.md (the broker's key reference) from the registry, or
// writes it to a file with --output, so the reference cannot drift from the code.
#include <cstdio>
#include <cstring>
#include <string>

#include "app/broker_config.h"
#include "env/env.h"

int main(int argc, char** argv) {
  const std::string markdown = holdfast::broker_config_markdown();
  if (argc == 1) {
    std::fwrite(markdown.data(), 1, markdown.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (argc == 3 && std::strcmp(argv[1], "--output") == 0) {
    const holdfast::Status st =
        holdfast::write_file_atomically(holdfast::Env::posix(), argv[2], markdown);
    if (!st.is_ok()) {
      std::fprintf(stderr, "holdfast_config_doc: %s\n", st.to_string().c_str());
      return 1;
    }
    return 0;
  }
  std::fprintf(stderr, "usage: %s [--output FILE]\n", argv[0]);
  return 2;
}
