// Synthetic trace writing: parameters, the input and every node output of a graph, with ReLU
// outputs masked to the requested density and clustering (see traces/FORMAT.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/errors.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace eatsim {

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

// Zero runs of mean length L between non-zero runs of mean length ≥ 1 cannot be sparser than
// 1/(1+L): a lower density needs longer zero runs.
void check_channel_runs(const Graph& g, const SynthOptions& o, const std::vector<double>& density) {
  const double L = std::max(1.0, o.run_length);
  for (size_t i = 0; i < density.size(); ++i)
    if (density[i] > 0 && density[i] < 1 / (1 + L) - 1e-12 && g.nodes[i].out_shape.size() == 3)
      throw UsageError(fmt::format(
          "--density {:g} for {} with --cluster channel: zero runs of mean length {:g} (--run-length) give "
          "a "
          "density of at least {:.4g}; use --run-length {:g} or more, or another --cluster",
          density[i], g.nodes[i].name, L, 1 / (1 + L), std::ceil((1 - density[i]) / density[i] - 1e-9)));
}

void describe(Manifest& m, const Graph& g, const SynthOptions& o, const std::string& producer) {
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
}

// One generator run. Random numbers are drawn in a fixed order (parameters, input, nodes in
// execution order, labels), so a seed always gives the same trace.
class Generator {
 public:
  Generator(const Graph& g, const SynthOptions& o, std::vector<double> density, TraceWriter& w)
      : g_(g), o_(o), density_(std::move(density)), w_(w), rng_(o.seed), N_(o.samples) {}
  void write_params();
  void write_activations(std::vector<int64_t>& predictions);
  void write_samples(Manifest& m);

 private:
  const Graph& g_;
  const SynthOptions& o_;
  const std::vector<double> density_;
  TraceWriter& w_;
  Rng rng_;
  const int64_t N_;
  std::vector<float> input_;
  std::vector<std::vector<float>> live_;  // node outputs not yet written
  std::vector<uint8_t> keep_;

  Shape batched(const Shape& s) const {
    Shape b{N_};
    b.insert(b.end(), s.begin(), s.end());
    return b;
  }
  std::vector<float>& input_of(const Node& n, size_t k) { return n.in[k] < 0 ? input_ : live_[n.in[k]]; }
  void fill_param(const ParamInfo& p, std::vector<float>& v);
  void relu(int i, std::vector<float>& y);
  void compute(int i);
  void flush(int i);
};

// He-normal conv/linear weights with the requested density, plausible BN statistics.
void Generator::fill_param(const ParamInfo& p, std::vector<float>& v) {
  const int64_t n = static_cast<int64_t>(v.size());
  bool bn = g_.nodes[p.node].op == Op::batchnorm2d;
  for (auto& x : v) {
    switch (p.kind) {
      case ParamKind::weight:
        if (bn) {
          x = static_cast<float>(1 + 0.1 * rng_.normal());
        } else {
          double fan_in = static_cast<double>(n) / p.shape[0];
          x = rng_.uniform() < o_.weight_density ? static_cast<float>(rng_.normal() * std::sqrt(2.0 / fan_in))
                                                 : 0.f;
        }
        break;
      case ParamKind::bias:
      case ParamKind::running_mean:
        x = static_cast<float>(0.1 * rng_.normal());
        break;
      case ParamKind::running_var:
        x = static_cast<float>(0.5 + rng_.uniform());
        break;
      default:
        break;
    }
  }
}

void Generator::write_params() {
  for (const auto& p : g_.parameters()) {
    if (p.kind == ParamKind::num_batches_tracked) {
      int64_t zero = 0;
      w_.add_i64(p.key, p.shape, &zero);
      continue;
    }
    std::vector<float> v(static_cast<size_t>(numel(p.shape)));
    fill_param(p, v);
    w_.add(p.key, TensorKind::param, p.shape, v.data(), o_.dtype);
  }
}

// A ReLU draws its keep-mask per sample and rewrites the signs of a computed input (conv, BN,
// linear, add) to match, so the input tensor and the ReLU output agree.
void Generator::relu(int i, std::vector<float>& y) {
  const Node& n = g_.nodes[i];
  const int64_t per = numel(n.out_shape);
  std::vector<float>& x = input_of(n, 0);
  Op src = n.in[0] >= 0 ? g_.nodes[n.in[0]].op : Op::identity;
  bool free_input =
      n.in[0] >= 0 && (src == Op::conv2d || src == Op::batchnorm2d || src == Op::linear || src == Op::add);
  for (int64_t s = 0; s < N_; ++s) {
    make_mask(n.out_shape, density_[i], o_, rng_, keep_);
    for (int64_t e = 0; e < per; ++e) {
      float& xi = x[s * per + e];
      if (free_input) xi = keep_[e] ? std::fabs(xi) + 1e-3f : -std::fabs(xi);
      y[s * per + e] = activate(n, xi);  // relu: max(x, 0); relu6 also clips at 6
    }
  }
}

void Generator::compute(int i) {
  const Node& n = g_.nodes[i];
  int64_t per = numel(n.out_shape);
  std::vector<float>& y = live_[i];
  y.assign(static_cast<size_t>(N_ * per), 0.f);
  const Shape& ins = g_.in_shape(n, 0);
  int64_t in_per = numel(ins);
  if (density_settable(n)) {  // relu, relu6: zeros at the density asked for
    relu(i, y);
    return;
  }
  switch (n.op) {
    case Op::maxpool2d:
    case Op::avgpool2d:
      for (int64_t s = 0; s < N_; ++s) pool(n, ins, input_of(n, 0).data() + s * in_per, y.data() + s * per);
      break;
    case Op::global_avgpool: {
      int64_t HW = ins[1] * ins[2];
      for (int64_t s = 0; s < N_; ++s)
        for (int64_t c = 0; c < ins[0]; ++c) {
          double acc = 0;
          for (int64_t p = 0; p < HW; ++p) acc += input_of(n, 0)[s * in_per + c * HW + p];
          y[s * per + c] = static_cast<float>(acc / HW);
        }
      break;
    }
    case Op::flatten:
    case Op::identity:
    case Op::dropout:  // the identity at inference
      y = input_of(n, 0);
      break;
    case Op::mul: {  // one side may be (C, 1, 1): it scales the other's channels
      int big = numel(g_.in_shape(n, 0)) >= numel(g_.in_shape(n, 1)) ? 0 : 1;
      const std::vector<float>&a = input_of(n, big), &b = input_of(n, 1 - big);
      const int64_t bper = numel(g_.in_shape(n, 1 - big)), rep = per / bper;
      for (int64_t s = 0; s < N_; ++s)
        for (int64_t e = 0; e < per; ++e) y[s * per + e] = a[s * per + e] * b[s * bper + e / rep];
      break;
    }
    case Op::concat: {
      int64_t at = 0;
      for (size_t k = 0; k < n.in.size(); ++k) {
        const int64_t kper = numel(g_.in_shape(n, k));
        const std::vector<float>& x = input_of(n, k);
        for (int64_t s = 0; s < N_; ++s) std::copy_n(x.data() + s * kper, kper, y.data() + s * per + at);
        at += kper;
      }
      break;
    }
    default:
      if (is_activation(n.op)) {  // relu6, sigmoid, ...: computed from the input
        const std::vector<float>& x = input_of(n, 0);
        for (size_t e = 0; e < y.size(); ++e) y[e] = activate(n, x[e]);
        break;
      }
      // conv2d, batchnorm2d, linear, add: statistically shaped, not computed
      for (auto& v : y) v = static_cast<float>(rng_.normal());
  }
}

void Generator::flush(int i) {
  w_.add(g_.nodes[i].name, TensorKind::activation, batched(g_.nodes[i].out_shape), live_[i].data(), o_.dtype);
  std::vector<float>().swap(live_[i]);
}

// Activations in execution order. A tensor stays in memory until every consumer has run (a ReLU
// rewrites its input's signs to match its own zeros), then it is written and freed.
void Generator::write_activations(std::vector<int64_t>& predictions) {
  live_.assign(g_.nodes.size(), {});
  std::vector<int> pending(g_.nodes.size(), 0);
  for (const auto& n : g_.nodes)
    for (int j : n.in)
      if (j >= 0) ++pending[j];
  input_.resize(static_cast<size_t>(N_ * numel(g_.input_shape)));
  for (auto& x : input_) x = static_cast<float>(rng_.uniform());
  w_.add("input", TensorKind::input, batched(g_.input_shape), input_.data(), o_.dtype);
  for (int i : g_.order) {
    compute(i);
    for (int j : g_.nodes[i].in)
      if (j >= 0 && --pending[j] == 0) flush(j);
  }
  for (int i : g_.order)
    if (!live_[i].empty()) {
      // The output node: predictions are its argmax.
      if (i == g_.output) {
        int64_t per = numel(g_.nodes[i].out_shape);
        for (int64_t s = 0; s < N_; ++s)
          predictions.push_back(
              std::max_element(live_[i].begin() + s * per, live_[i].begin() + (s + 1) * per) -
              (live_[i].begin() + s * per));
      }
      flush(i);
    }
}

void Generator::write_samples(Manifest& m) {
  for (int64_t s = 0; s < N_; ++s) {
    m.sample_ids.push_back(s);
    m.labels.push_back(static_cast<int64_t>(rng_.next() % static_cast<uint64_t>(g_.params.classes)));
  }
}

}  // namespace

void write_synthetic_trace(const Graph& g, const SynthOptions& o, const std::string& dir, bool replace,
                           const std::string& producer) {
  if (o.samples < 1) throw UsageError("--samples must be at least 1");
  if (!(o.weight_density >= 0 && o.weight_density <= 1))
    throw UsageError("--weight-density must be in [0, 1]");
  std::vector<double> density = resolve_density(g, o.density);
  if (o.clustering == Clustering::channel) check_channel_runs(g, o, density);
  TraceWriter w(dir, replace);
  Manifest& m = w.manifest();
  describe(m, g, o, producer);
  Generator gen(g, o, std::move(density), w);
  gen.write_params();
  gen.write_activations(m.predictions);
  gen.write_samples(m);
  w.commit();
}

}  // namespace eatsim
