// Placeholder entry point; replaced by the CLI11 command line (issue 5).
#include <cstdio>
int main() {
  std::puts("ringlog: under construction");
  return 0;
}
