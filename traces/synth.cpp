// Synthetic traces: clustering names, the random generator and the density spec; the trace itself
// is written in synth_write.cpp (see traces/FORMAT.md, "Synthetic traces").
#include "traces/synth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "base/errors.hpp"

namespace eatsim {

bool clustering_from_name(const std::string& s, Clustering& out) {
  if (s == "independent")
    out = Clustering::independent;
  else if (s == "channel")
    out = Clustering::channel;
  else if (s == "blob")
    out = Clustering::blob;
  else
    return false;
  return true;
}

const char* clustering_name(Clustering c) {
  switch (c) {
    case Clustering::independent:
      return "independent";
    case Clustering::channel:
      return "channel";
    case Clustering::blob:
      return "blob";
  }
  return "?";
}

static uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix(seed);
}

uint64_t Rng::next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3], s_[2] ^= t, s_[3] = rotl(s_[3], 45);
  return r;
}

double Rng::uniform() { return (next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u = 0;
  while (u <= 0) u = uniform();
  double v = uniform(), r = std::sqrt(-2.0 * std::log(u));
  spare_ = r * std::sin(2 * M_PI * v);
  has_spare_ = true;
  return r * std::cos(2 * M_PI * v);
}

// ReLU-like nodes whose output density the generator sets: relu, relu6, hardtanh from 0 (zero for
// every non-positive input).
bool density_settable(const Node& n) {
  return n.op == Op::relu || n.op == Op::relu6 || (n.op == Op::hardtanh && n.min_val == 0);
}

std::vector<double> resolve_density(const Graph& g, const std::string& spec) {
  std::vector<int> relus;
  for (int i : g.order)
    if (density_settable(g.nodes[i])) relus.push_back(i);
  std::vector<double> out(g.nodes.size(), -1.0);
  auto bad = [&](const std::string& why) {
    throw UsageError(
        fmt::format("--density '{}': {} (a number, A..B, a list with one value per ReLU ({} here), "
                    "and/or name=value entries)",
                    spec, why, relus.size()));
  };
  auto parse_num = [&](const std::string& s) {
    try {
      size_t pos;
      double v = std::stod(s, &pos);
      if (pos != s.size() || !(v >= 0 && v <= 1)) bad("'" + s + "' is not a density in [0, 1]");
      return v;
    } catch (const std::logic_error&) {
      bad("'" + s + "' is not a number");
    }
    return 0.0;
  };
  std::vector<std::string> parts;
  size_t s = 0;
  for (;;) {
    size_t c = spec.find(',', s);
    parts.push_back(spec.substr(s, c == std::string::npos ? std::string::npos : c - s));
    if (c == std::string::npos) break;
    s = c + 1;
  }
  std::vector<double> plain;
  std::map<std::string, double> named;
  for (const auto& p : parts) {
    size_t eq = p.find('=');
    if (eq != std::string::npos) {
      std::string name = p.substr(0, eq);
      int idx = g.find(name);
      if (idx < 0 || !density_settable(g.nodes[idx]))
        bad("'" + name + "' is not a ReLU-like node (relu, relu6) of " + g.name);
      named[name] = parse_num(p.substr(eq + 1));
    } else if (p.find("..") != std::string::npos) {
      if (parts.size() - named.size() > 1 && !plain.empty()) bad("a ramp A..B cannot be mixed with a list");
      size_t dd = p.find("..");
      double a = parse_num(p.substr(0, dd)), b = parse_num(p.substr(dd + 2));
      for (size_t i = 0; i < relus.size(); ++i)
        plain.push_back(relus.size() == 1 ? a : a + (b - a) * static_cast<double>(i) / (relus.size() - 1));
    } else if (!p.empty()) {
      plain.push_back(parse_num(p));
    } else {
      bad("empty entry");
    }
  }
  if (plain.size() == 1) plain.assign(relus.size(), plain[0]);
  if (plain.empty()) plain.assign(relus.size(), 1.0);
  if (plain.size() != relus.size()) bad(fmt::format("{} values for {} ReLUs", plain.size(), relus.size()));
  for (size_t i = 0; i < relus.size(); ++i) out[relus[i]] = plain[i];
  for (const auto& [name, v] : named) out[g.find(name)] = v;
  return out;
}

}  // namespace eatsim
