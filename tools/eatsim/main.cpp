// eatsim: git-style dispatch to the subcommands registered in tools/eatsim/cmd_*.cpp, and the
// mapping of errors to exit codes (2 bad input, 1 failed check).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "base/errors.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

bool stderr_is_tty() { return isatty(2) != 0; }

void require_range(const std::string& option, double value, double lo, double hi, const std::string& what) {
  if (!(value >= lo && value <= hi))  // NaN fails both
    throw UsageError(fmt::format("--{} {}: must be {}", option, value, what));
}

bool parse(const std::string& command, const std::string& usage, const Args& args,
           po::options_description& opts, const po::positional_options_description& pos,
           po::variables_map& vm) {
  po::options_description all;
  all.add(opts);
  all.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: eatsim " << command << " " << usage << "\n\n" << all << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(fmt::format("eatsim {}: {} (see eatsim {} --help)", command, e.what(), command));
  }
  return true;
}

namespace {
void print_help() {
  auto cmds = registry();
  std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  std::cout
      << "eatsim " << EATSIM_VERSION
      << ": energy-aware training and a cycle-level simulator of sparse accelerators\n\n"
         "usage: eatsim <command> [options]      (eatsim <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : cmds) std::cout << fmt::format("  {:<16} {}\n", c.name, c.summary);
  std::cout << "\nexit codes: 0 ok, 1 a check failed (regression), 2 bad input\n";
}
}  // namespace

int main_impl(int argc, char** argv) {
  Args words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version") {
    std::cout << "eatsim " << EATSIM_VERSION << "\n";
    return 0;
  }
  // The longest registered name that prefixes the words wins ("trace info" before "trace").
  const Command* best = nullptr;
  size_t best_len = 0;
  for (const auto& c : registry()) {
    std::vector<std::string> parts;
    size_t s = 0, e;
    while ((e = c.name.find(' ', s)) != std::string::npos)
      parts.push_back(c.name.substr(s, e - s)), s = e + 1;
    parts.push_back(c.name.substr(s));
    if (parts.size() <= words.size() && std::equal(parts.begin(), parts.end(), words.begin()) &&
        parts.size() > best_len)
      best = &c, best_len = parts.size();
  }
  if (!best) {
    std::string group = words[0], subs;
    for (const auto& c : registry())
      if (c.name.rfind(group + " ", 0) == 0) subs += (subs.empty() ? "" : ", ") + c.name;
    if (!subs.empty())
      std::cerr << fmt::format("eatsim: '{}' needs a subcommand: {}\n", group, subs);
    else
      std::cerr << fmt::format("eatsim: unknown command '{}' (see eatsim --help)\n", words[0]);
    return 2;
  }
  Args rest(words.begin() + best_len, words.end());
  return best->run(rest);
}

}  // namespace eatsim::cli

int main(int argc, char** argv) {
  // OpenMP threads that spin while waiting lose up to 5x when the cores are shared (measured:
  // 132 vs 655 images/s training ResNet18 on a busy 2-core machine). libgomp reads the policy when
  // it loads, so set it and start again; users who set OMP_WAIT_POLICY keep their choice.
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("EATSIM_NO_REEXEC")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("EATSIM_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: carry on with the default policy
  }
  // A reader that closes stdout early (`eatsim trace info T | head`) ends the output, not the run:
  // files are still written and the exit status is the command's own.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return eatsim::cli::main_impl(argc, argv);
  } catch (const eatsim::Error& e) {
    for (const auto& l : e.lines()) std::cerr << "error: " << l << "\n";
    return 2;
  } catch (const eatsim::CheckFailed& e) {
    std::cerr << "check failed: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory (try fewer samples, a smaller batch or fewer --jobs)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << " (please report this with the command that caused it)\n";
    return 3;
  }
}
