// Synthetic trace generators: see synth.hpp and traces/FORMAT.md ("Synthetic traces").
#include "traces/synth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "base/errors.hpp"
#include "traces/trace.hpp"

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

std::vector<double> resolve_density(const Graph& g, const std::string& spec) {
  std::vector<int> relus;
  for (int i : g.order)
    if (g.nodes[i].op == Op::relu) relus.push_back(i);
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
      if (idx < 0 || g.nodes[idx].op != Op::relu) bad("'" + name + "' is not a ReLU node of " + g.name);
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

namespace {

// Keep-masks for one sample of a (C, H, W) or (F) tensor with density d.
void make_mask(const Shape& s, double d, const SynthOptions& o, Rng& rng, std::vector<uint8_t>& keep) {
  int64_t n = numel(s);
  keep.assign(static_cast<size_t>(n), 0);
  if (o.clustering == Clustering::independent || s.size() != 3) {
    for (int64_t i = 0; i < n; ++i) keep[i] = rng.uniform() < d;
    return;
  }
  int64_t C = s[0], HW = s[1] * s[2];
  if (o.clustering == Clustering::channel) {
    // Two-state Markov chain along channels at each pixel: zero runs of mean length L, stationary density d.
    double L = std::max(1.0, o.run_length);
    double p_end_zero = 1.0 / L;  // P(zero -> nonzero)
    double p_start_zero = d >= 1 ? 0 : (d <= 0 ? 1 : std::min(1.0, p_end_zero * (1 - d) / d));
    for (int64_t p = 0; p < HW; ++p) {
      bool on = rng.uniform() < d;
      for (int64_t c = 0; c < C; ++c) {
        keep[c * HW + p] = on;
        on = on ? !(rng.uniform() < p_start_zero) : rng.uniform() < p_end_zero;
      }
    }
    return;
  }
  // Blob: per channel, box-blurred white noise thresholded at its (1 - d) quantile.
  int64_t H = s[1], W = s[2];
  int r = std::max(0, o.blob_radius);
  std::vector<double> noise(HW), tmp(HW), order(HW);
  for (int64_t c = 0; c < C; ++c) {
    for (auto& v : noise) v = rng.uniform();
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double acc = 0;
        for (int64_t k = std::max<int64_t>(0, x - r); k <= std::min<int64_t>(W - 1, x + r); ++k)
          acc += noise[y * W + k];
        tmp[y * W + x] = acc;
      }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double acc = 0;
        for (int64_t k = std::max<int64_t>(0, y - r); k <= std::min<int64_t>(H - 1, y + r); ++k)
          acc += tmp[k * W + x];
        noise[y * W + x] = acc + 1e-9 * rng.uniform();  // tie-break
      }
    int64_t nkeep = std::llround(d * HW);
    if (nkeep <= 0) continue;
    order = noise;
    std::nth_element(order.begin(), order.begin() + (HW - nkeep), order.end());
    double thr = order[HW - nkeep];
    for (int64_t p = 0; p < HW; ++p) keep[c * HW + p] = noise[p] >= thr;
  }
}

void pool(const Node& n, const Shape& in, const float* x, float* y) {
  int64_t C = in[0], H = in[1], W = in[2], Ho = n.out_shape[1], Wo = n.out_shape[2];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t oy = 0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox) {
        float best = -INFINITY, sum = 0;
        for (int ky = 0; ky < n.kh; ++ky)
          for (int kx = 0; kx < n.kw; ++kx) {
            int64_t iy = oy * n.sh - n.ph + ky, ix = ox * n.sw - n.pw + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;  // padding: -inf for max, 0 for avg
            float v = x[(c * H + iy) * W + ix];
            best = std::max(best, v), sum += v;
          }
        y[(c * Ho + oy) * Wo + ox] = n.op == Op::maxpool2d ? best : sum / (n.kh * n.kw);
      }
}

}  // namespace

void write_synthetic_trace(const Graph& g, const SynthOptions& o, const std::string& dir, bool replace,
                           const std::string& producer) {
  if (o.samples < 1) throw UsageError("--samples must be at least 1");
  if (!(o.weight_density >= 0 && o.weight_density <= 1))
    throw UsageError("--weight-density must be in [0, 1]");
  std::vector<double> density = resolve_density(g, o.density);
  if (o.clustering == Clustering::channel) {
    // Zero runs of mean length L between non-zero runs of mean length ≥ 1 cannot be sparser than
    // 1/(1+L): a lower density needs longer zero runs.
    const double L = std::max(1.0, o.run_length);
    for (size_t i = 0; i < density.size(); ++i)
      if (density[i] > 0 && density[i] < 1 / (1 + L) - 1e-12 && g.nodes[i].out_shape.size() == 3)
        throw UsageError(fmt::format(
            "--density {:g} for {} with --cluster channel: zero runs of mean length {:g} (--run-length) give "
            "a "
            "density of at least {:.4g}; use --run-length {:g} or more, or another --cluster",
            density[i], g.nodes[i].name, L, 1 / (1 + L), std::ceil((1 - density[i]) / density[i] - 1e-9)));
  }
  TraceWriter w(dir, replace);
  Manifest& m = w.manifest();
  m.producer = producer;
  m.graph = g;
  m.meta.dataset = "synthetic";
  m.meta.split = "synthetic";
  m.meta.extra = {{"generator", "eatsim trace synth"},
                  {"density", o.density},
                  {"clustering", clustering_name(o.clustering)},
                  {"seed", std::to_string(o.seed)},
                  {"run_length", fmt::format("{}", o.run_length)},
                  {"blob_radius", std::to_string(o.blob_radius)},
                  {"weight_density", fmt::format("{}", o.weight_density)}};
  Rng rng(o.seed);
  const int64_t N = o.samples;
  auto batched = [&](const Shape& s) {
    Shape b{N};
    b.insert(b.end(), s.begin(), s.end());
    return b;
  };

  // Parameters: He-normal conv/linear weights with the requested density, plausible BN statistics.
  for (const auto& p : g.parameters()) {
    int64_t n = numel(p.shape);
    if (p.kind == ParamKind::num_batches_tracked) {
      int64_t zero = 0;
      w.add_i64(p.key, p.shape, &zero);
      continue;
    }
    std::vector<float> v(static_cast<size_t>(n));
    const Node& node = g.nodes[p.node];
    bool bn = node.op == Op::batchnorm2d;
    for (auto& x : v) {
      switch (p.kind) {
        case ParamKind::weight:
          if (bn) {
            x = static_cast<float>(1 + 0.1 * rng.normal());
          } else {
            double fan_in = static_cast<double>(n) / p.shape[0];
            x = rng.uniform() < o.weight_density ? static_cast<float>(rng.normal() * std::sqrt(2.0 / fan_in))
                                                 : 0.f;
          }
          break;
        case ParamKind::bias:
        case ParamKind::running_mean:
          x = static_cast<float>(0.1 * rng.normal());
          break;
        case ParamKind::running_var:
          x = static_cast<float>(0.5 + rng.uniform());
          break;
        default:
          break;
      }
    }
    w.add(p.key, TensorKind::param, p.shape, v.data(), o.dtype);
  }

  // Activations in execution order. A tensor stays in memory until every consumer has run (a ReLU
  // rewrites its input's signs to match its own zeros), then it is written and freed.
  std::vector<std::vector<float>> live(g.nodes.size());
  std::vector<int> pending(g.nodes.size(), 0);
  for (const auto& n : g.nodes)
    for (int j : n.in)
      if (j >= 0) ++pending[j];
  std::vector<float> input(static_cast<size_t>(N * numel(g.input_shape)));
  for (auto& x : input) x = static_cast<float>(rng.uniform());
  w.add("input", TensorKind::input, batched(g.input_shape), input.data(), o.dtype);
  auto input_of = [&](const Node& n, size_t k) -> std::vector<float>& {
    return n.in[k] < 0 ? input : live[n.in[k]];
  };
  auto flush = [&](int i) {
    w.add(g.nodes[i].name, TensorKind::activation, batched(g.nodes[i].out_shape), live[i].data(), o.dtype);
    std::vector<float>().swap(live[i]);
  };
  std::vector<uint8_t> keep;
  for (int i : g.order) {
    const Node& n = g.nodes[i];
    int64_t per = numel(n.out_shape);
    std::vector<float>& y = live[i];
    y.assign(static_cast<size_t>(N * per), 0.f);
    const Shape& ins = g.in_shape(n, 0);
    int64_t in_per = numel(ins);
    switch (n.op) {
      case Op::relu: {
        std::vector<float>& x = input_of(n, 0);
        Op src = n.in[0] >= 0 ? g.nodes[n.in[0]].op : Op::identity;
        bool free_input = n.in[0] >= 0 && (src == Op::conv2d || src == Op::batchnorm2d || src == Op::linear ||
                                           src == Op::add);
        for (int64_t s = 0; s < N; ++s) {
          make_mask(n.out_shape, density[i], o, rng, keep);
          for (int64_t e = 0; e < per; ++e) {
            float& xi = x[s * per + e];
            if (free_input) xi = keep[e] ? std::fabs(xi) + 1e-3f : -std::fabs(xi);
            y[s * per + e] = std::max(xi, 0.f);
          }
        }
        break;
      }
      case Op::maxpool2d:
      case Op::avgpool2d:
        for (int64_t s = 0; s < N; ++s) pool(n, ins, input_of(n, 0).data() + s * in_per, y.data() + s * per);
        break;
      case Op::global_avgpool: {
        int64_t HW = ins[1] * ins[2];
        for (int64_t s = 0; s < N; ++s)
          for (int64_t c = 0; c < ins[0]; ++c) {
            double acc = 0;
            for (int64_t p = 0; p < HW; ++p) acc += input_of(n, 0)[s * in_per + c * HW + p];
            y[s * per + c] = static_cast<float>(acc / HW);
          }
        break;
      }
      case Op::flatten:
      case Op::identity:
        y = input_of(n, 0);
        break;
      default:  // conv2d, batchnorm2d, linear, add: statistically shaped, not computed
        for (auto& v : y) v = static_cast<float>(rng.normal());
    }
    for (int j : n.in)
      if (j >= 0 && --pending[j] == 0) flush(j);
  }
  for (int i : g.order)
    if (!live[i].empty()) {
      // The output node: predictions are its argmax.
      if (i == g.output) {
        int64_t per = numel(g.nodes[i].out_shape);
        for (int64_t s = 0; s < N; ++s)
          m.predictions.push_back(
              std::max_element(live[i].begin() + s * per, live[i].begin() + (s + 1) * per) -
              (live[i].begin() + s * per));
      }
      flush(i);
    }
  for (int64_t s = 0; s < N; ++s) {
    m.sample_ids.push_back(s);
    m.labels.push_back(static_cast<int64_t>(rng.next() % static_cast<uint64_t>(g.params.classes)));
  }
  w.commit();
}

}  // namespace eatsim
