// Random cases for the clocked-model tests: see random_cases.hpp.
#include "tests/sim/systemc/random_cases.hpp"

#include <fmt/format.h>

#include "base/errors.hpp"

namespace eatsim::test {
namespace {

int pick(std::mt19937& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
template <class T>
const T& one_of(std::mt19937& rng, const std::vector<T>& v) {
  return v[static_cast<size_t>(pick(rng, 0, int(v.size()) - 1))];
}
std::string b(bool v) { return v ? "true" : "false"; }

// Sparsity: any combination the schema allows, each section set whole (YAML maps) so that keys of
// another dataflow do not linger from the preset; the engine decides what it supports.
std::vector<std::string> sparse_sets(std::mt19937& rng, const std::string& df, int rows) {
  std::vector<std::string> sparse;
  bool any = pick(rng, 0, 2) != 0;  // a third of the configs dense
  bool gate = any && pick(rng, 0, 1), skip = any && pick(rng, 0, 2) != 0,
       compress = any && pick(rng, 0, 2) == 0;
  sparse.push_back("sparsity.gate=" + b(gate));
  if (!skip) {
    sparse.push_back("sparsity.skip={enabled: false}");
  } else if (df == "is") {
    sparse.push_back("sparsity.skip={enabled: true}");
  } else {
    std::vector<int> divisors;
    for (int g = 1; g <= rows; ++g)
      if (rows % g == 0) divisors.push_back(g);
    std::string m = fmt::format("sparsity.skip={{enabled: true, group: {}, fifo_depth: {}",
                                one_of(rng, divisors), pick(rng, 1, 4));
    if (df == "ws")
      m += fmt::format(", lookahead: {}, acc_ports: {}}}", pick(rng, 1, 4), pick(rng, 1, 4));
    else
      m += fmt::format(", weight_feeds: {}}}", pick(rng, 1, 4));
    sparse.push_back(m);
  }
  if (!compress)
    sparse.push_back("sparsity.compress={format: none}");
  else if (pick(rng, 0, 1))
    sparse.push_back(fmt::format("sparsity.compress={{format: rle, run_bits: {}}}", pick(rng, 2, 8)));
  else
    sparse.push_back("sparsity.compress={format: bitmap}");
  return sparse;
}

}  // namespace

RandomHw random_hw(std::mt19937& rng, int max_dim) {
  for (;;) {
    std::vector<std::string> sets;
    std::string df = one_of<std::string>(rng, {"ws", "os", "is"});
    std::string dt = one_of<std::string>(rng, {"int8", "int16", "fp16", "fp32"});
    int rows = pick(rng, 1, max_dim), cols = pick(rng, 1, max_dim);
    int ebits = dt == "int8" ? 8 : dt == "fp32" ? 32 : 16;
    sets.push_back("array.dataflow=" + df);
    sets.push_back("array.datatype=" + dt);
    sets.push_back(fmt::format("array.rows={}", rows));
    sets.push_back(fmt::format("array.cols={}", cols));
    sets.push_back("array.preload_overlap=" + b(pick(rng, 0, 1)));
    sets.push_back("array.k_order=" + one_of<std::string>(rng, {"cin_inner", "cin_outer"}));
    for (const char* buf : {"ifmap", "weights", "psum"}) {
      sets.push_back(fmt::format("buffers.{}.size_kb={}", buf, one_of<double>(rng, {0.5, 1, 2, 4, 16, 64})));
      sets.push_back(fmt::format("buffers.{}.double_buffered={}", buf, b(pick(rng, 0, 1))));
      sets.push_back(fmt::format("buffers.{}.word_bits={}", buf, ebits * one_of<int>(rng, {1, 2, 4, 8})));
      sets.push_back(fmt::format("buffers.{}.banks={}", buf, pick(rng, 1, 8)));
    }
    sets.push_back(fmt::format("dram.bytes_per_cycle={}", one_of<int>(rng, {1, 2, 3, 8, 16, 64})));
    sets.push_back(fmt::format("dram.latency={}", one_of<int>(rng, {0, 1, 2, 7, 40, 100})));
    sets.push_back(fmt::format("ppu.width={}", one_of<int>(rng, {1, 2, 4, 16, 64})));
    sets.push_back("ppu.fold_bn=" + b(pick(rng, 0, 1)));
    sets.push_back(fmt::format("batch={}", pick(rng, 1, 3)));
    sets.push_back("scalesim_compat=" + b(pick(rng, 0, 5) == 0));
    std::vector<std::string> sparse = sparse_sets(rng, df, rows);
    // The Cnvlutin preset carries every sparse section, so overrides only change values.
    const std::string preset = "cnvlutin_ws16";
    std::vector<std::string> all = sets;
    all.insert(all.end(), sparse.begin(), sparse.end());
    RandomHw r;
    try {
      r.hw = sim::load_hwconfig(preset, all);
      sim::check_supported(r.hw);
      r.sparse = r.hw.sparsity.any();
      sets = all;
    } catch (const ConfigError&) {
      // Sparse settings the schema or the engine refuses: the same hardware, dense.
      sets.insert(sets.end(),
                  {"sparsity.gate=false", "sparsity.skip.enabled=false", "sparsity.compress.format=none"});
      try {
        r.hw = sim::load_hwconfig(preset, sets);
      } catch (const ConfigError&) {
        continue;  // e.g. a word narrower than an element: draw again
      }
    }
    r.text = preset;
    for (const auto& s : sets) r.text += " --set " + s;
    return r;
  }
}

sim::LayerGroup random_row(std::mt19937& rng, const std::string& name) {
  sim::LayerGroup g;
  g.name = name;
  g.gemm = 0;
  if (pick(rng, 0, 4) == 0) {
    g.linear = true;
    g.shape = sim::linear_gemm(name, pick(rng, 1, 80), pick(rng, 1, 40));
    g.in_elems = g.shape.K;
  } else {
    int kh = pick(rng, 1, 3), kw = pick(rng, 1, 3), cin = pick(rng, 1, 16), cout = pick(rng, 1, 24);
    // A third of the convs are grouped (depthwise, or 2 to 4 groups), a quarter dilated.
    int groups = 1, dh = pick(rng, 0, 3) == 0 ? 2 : 1, dw = pick(rng, 0, 3) == 0 ? 2 : 1;
    if (int kind = pick(rng, 0, 5); kind == 0) {
      groups = cin, cout = cin * pick(rng, 1, 2);  // depthwise, channel multiplier 1 or 2
    } else if (kind == 1) {
      groups = pick(rng, 2, 4), cin = groups * pick(rng, 1, 4), cout = groups * pick(rng, 1, 6);
    }
    int h = pick(rng, dh * (kh - 1) + 1, 12), w = pick(rng, dw * (kw - 1) + 1, 12);
    g.shape = sim::conv_gemm(name, cin, h, w, cout,
                             sim::ConvGeometry{kh, kw, pick(rng, 1, 2), pick(rng, 1, 2), pick(rng, 0, kh / 2),
                                               pick(rng, 0, kw / 2), dh, dw, groups});
    g.in_elems = int64_t(cin) * h * w;
  }
  g.weight_elems = g.shape.weight_elems() + (pick(rng, 0, 1) ? g.shape.N : 0);
  g.ppu_ops = g.shape.out_elems() * pick(rng, 0, 6);
  g.residual_elems = pick(rng, 0, 2) == 0 ? g.shape.out_elems() : 0;
  g.out_elems = pick(rng, 0, 3) == 0 ? 0 : g.shape.out_elems();
  return g;
}

RowData random_data(std::mt19937& rng, const sim::LayerGroup& row) {
  RowData d;
  const sim::GemmShape& s = row.shape;
  int64_t hw = s.h * s.w;
  d.ifmap.resize(static_cast<size_t>(row.in_elems));
  d.weights.resize(static_cast<size_t>(s.weight_elems()));
  std::normal_distribution<float> val(0.f, 1.f);
  std::uniform_real_distribution<double> u(0, 1);
  double density = one_of<double>(rng, {0.0, 0.05, 0.3, 0.6, 1.0});
  d.pattern = one_of<std::string>(rng, {"independent", "channel", "blob"});
  for (int64_t c = 0; c < s.cin * s.groups; ++c) {
    bool channel_on = u(rng) < density;
    for (int64_t p = 0; p < hw; ++p) {
      bool on;
      if (d.pattern == "independent")
        on = u(rng) < density;
      else if (d.pattern == "channel")
        on = channel_on;  // whole channels zero: runs along K
      else
        on = ((p / s.w) / 3 + (p % s.w) / 3 + c) % 3 == 0 ? u(rng) < 2 * density : u(rng) < density / 4;
      d.ifmap[static_cast<size_t>(c * hw + p)] = on ? std::abs(val(rng)) + 0.01f : 0.f;
    }
  }
  for (auto& x : d.weights) x = u(rng) < 0.1 ? 0.f : val(rng);
  d.pattern += fmt::format(" density {}", density);
  return d;
}

std::string counter_diff(const sim::Counters& fast, const sim::Counters& cycle) {
  std::string out;
  for (const auto& i : sim::counter_infos())
    if (fast.*i.field != cycle.*i.field)
      out += fmt::format("{}: fast={} cycle={}\n", i.name, fast.*i.field, cycle.*i.field);
  return out;
}

}  // namespace eatsim::test
