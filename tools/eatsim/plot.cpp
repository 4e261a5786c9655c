// gnuplot driver and CSV reading for `eatsim plot` and the demo.
#include "tools/eatsim/plot.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/errors.hpp"
#include "base/files.hpp"

namespace eatsim::plot {

namespace {
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool q = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (q) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        cur += '"', ++i;
      else if (c == '"')
        q = false;
      else
        cur += c;
    } else if (c == '"') {
      q = true;
    } else if (c == ',') {
      out.push_back(cur), cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}
}  // namespace

Csv read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("{}: cannot open the CSV file", path));
  Csv c;
  c.file = path;
  std::string line;
  if (!std::getline(in, line)) throw DataError(fmt::format("{}: empty CSV file", path));
  c.header = split_csv_line(line);
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto r = split_csv_line(line);
    if (r.size() != c.header.size())
      throw DataError(fmt::format("{}:{}: {} fields, the header has {} (a truncated file?)", path, n,
                                  r.size(), c.header.size()));
    c.rows.push_back(std::move(r));
  }
  return c;
}

int Csv::col(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  std::string have;
  for (const auto& h : header) have += (have.empty() ? "" : ", ") + h;
  throw UsageError(fmt::format("{}: no column '{}' (columns: {})", file, name, have));
}

double Csv::num(size_t row, int col) const {
  const std::string& s = rows[row][col];
  try {
    size_t used;
    double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (...) {
  }
  throw DataError(fmt::format("{}:{}: '{}' in column {} is not a number", file, row + 2, s, header[col]));
}

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string axis_label(const std::string& column) {
  static const std::map<std::string, std::string> known = {{"cycles", "cycles per sample"},
                                                           {"energy_uj", "energy per sample (µJ)"},
                                                           {"energy_pj", "energy per sample (pJ)"},
                                                           {"edp_uj_us", "energy-delay product (µJ·µs)"},
                                                           {"pe_count", "PEs"},
                                                           {"sram_kb", "on-chip SRAM (KB)"},
                                                           {"area_proxy", "area proxy (PE-equivalents)"},
                                                           {"energy_ratio", "energy ratio (sparse / dense)"},
                                                           {"speedup", "speed-up (dense cycles / cycles)"},
                                                           {"power_mw", "power (mW)"}};
  auto it = known.find(column);
  return it == known.end() ? column : it->second;
}

std::string component_color(const std::string& name) {
  static const std::map<std::string, std::string> known = {
      {"mac", "#1f77b4"},       {"mac_gated", "#aec7e8"},  {"psum_add", "#ff7f0e"},
      {"reg", "#ffbb78"},       {"sram_ifmap", "#2ca02c"}, {"sram_weights", "#98df8a"},
      {"sram_psum", "#d62728"}, {"dram", "#ff9896"},       {"ppu", "#9467bd"},
      {"leakage", "#c5b0d5"},   {"frontend", "#8c564b"},   {"realign", "#e377c2"},
      {"metadata", "#7f7f7f"}};
  static const std::vector<std::string> spare = {"#bcbd22", "#17becf", "#c49c94", "#f7b6d2",
                                                 "#dbdb8d", "#9edae5", "#393b79", "#637939"};
  static std::map<std::string, std::string> assigned;  // unknown names, in order of first use
  auto it = known.find(name);
  if (it != known.end()) return it->second;
  auto a = assigned.find(name);
  if (a != assigned.end()) return a->second;
  return assigned[name] = spare[assigned.size() % spare.size()];
}

std::string series_color(size_t i) {
  static const std::vector<std::string> p = {"#4472c4", "#ed7d31", "#70ad47", "#7030a0",
                                             "#ffc000", "#5b9bd5", "#c00000", "#264478"};
  return p[i % p.size()];
}

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

void render(const std::string& prefix, const std::map<std::string, std::string>& data,
            const std::string& body, int width, int height) {
  if (!gnuplot_available())
    throw UsageError("gnuplot is not installed (tools/setup.sh installs gnuplot-nox)");
  std::string blocks;
  for (const auto& [name, rows] : data) blocks += fmt::format("${} << EOD\n{}EOD\n", name, rows);
  std::string common = "set encoding utf8\nset offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n";
  std::string script =
      blocks + common +
      fmt::format(
          "set terminal pngcairo noenhanced size {},{} font 'sans,10'\nset output {}\n{}\nunset output\n",
          width, height, quote(prefix + ".png"), body) +
      fmt::format(
          "set terminal svg noenhanced size {},{} dynamic font 'sans,10'\nset output {}\n{}\nunset output\n",
          width, height, quote(prefix + ".svg"), body);
  atomic_write(prefix + ".gp", script);
  std::string cmd = "gnuplot " + quote(prefix + ".gp") + " 2> " + quote(prefix + ".gp.log");
  if (std::system(cmd.c_str()) != 0)
    throw UsageError(fmt::format("{}.gp: gnuplot failed (see {}.gp.log)", prefix, prefix));
  std::remove((prefix + ".gp.log").c_str());
}

}  // namespace eatsim::plot
