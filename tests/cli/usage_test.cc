// End to end: exit codes and messages for bad command lines.
#include <doctest/doctest.h>

#include "cli/cli_support.h"

namespace ringlog::cli::test {

TEST_CASE("cli: bad arguments exit 2 with a message that names the problem") {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases{
      {{}, "A subcommand is required"},
      {{"frobnicate"}, "'frobnicate' is not a subcommand"},
      {{"produce"}, "topic is required"},
      {{"produce", "t", "--partition", "abc"}, "abc"},
      {{"produce", "t", "--batch-size", "lots"}, "size 'lots' is not a number with a unit"},
      {{"produce", "t", "--key", "k", "--key-separator", "="}, "excludes"},
      {{"consume", "t", "--format", "yaml"}, "yaml"},
      {{"consume", "t", "--bogus"}, "--bogus"},
      {{"topics"}, "subcommand is required"},
      {{"serve", "--durability", "sometimes"}, "sometimes"},
  };
  for (const Case& c : cases) {
    std::string joined;
    for (const auto& a : c.args)
      joined += a + " ";
    CAPTURE(joined);
    RunResult r = run_ringlog(dir.path(), c.args);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(c.message) != std::string::npos, r.err);
  }
}

TEST_CASE("cli: an invalid topic name is refused with the rule, before touching the disk") {
  TempDir dir;
  for (std::string name : {"a/b", "..", "white space"}) {
    CAPTURE(name);
    RunResult r = run_ringlog(dir.path(), {"produce", name}, "x\n");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("topic '" + name +
                     "' is not a valid name: topic names are 1 to 249 characters of "
                     "[A-Za-z0-9._-], and not '.' or '..'") != std::string::npos);
  }
}

TEST_CASE("cli: every subcommand's --help shows an example and exits 0") {
  TempDir dir;
  for (std::string sub :
       {"serve", "produce", "consume", "topics", "offsets", "stats", "verify", "dump"}) {
    CAPTURE(sub);
    RunResult r = run_ringlog(dir.path(), {sub, "--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Example:") != std::string::npos);
  }
  RunResult top = run_ringlog(dir.path(), {"--help"});
  CHECK(top.exit_code == 0);
  CHECK(top.out.find("Exit codes") != std::string::npos);
}

}  // namespace ringlog::cli::test
