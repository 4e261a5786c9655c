// Layer scan for the value-driven features: see sparse.hpp.
#include "sim/sparse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "base/errors.hpp"
#include "sim/layer_data.hpp"
#include "sim/scan.hpp"

namespace eatsim::sim {

double max_abs_of(const float* x, int64_t n, bool& nonneg) {
  double m = 0;
  nonneg = true;
  for (int64_t i = 0; i < n; ++i) {
    m = std::max(m, double(std::fabs(x[i])));
    if (x[i] < 0) nonneg = false;
  }
  return m;
}

namespace {

// The layer's array geometry and skip grouping; ConfigError when WS needs more than 64 groups.
void set_geometry(SparseLayer& s, const HwConfig& hw, const GemmShape& g) {
  s.g = g, s.df = hw.array.dataflow, s.R = hw.array.rows, s.C = hw.array.cols;
  s.skip = hw.sparsity.skip.enabled;
  s.G = s.skip && s.df != Dataflow::is ? hw.sparsity.skip.group : s.R;
  if (s.df == Dataflow::ws && (s.R + s.G - 1) / s.G > 64)
    throw ConfigError(
        fmt::format("{}: sparsity.skip.group: {} rows in groups of {} make more than 64 lane "
                    "groups, which this engine does not model",
                    hw.file, s.R, s.G));
}

// Quantises the input into (H, W, Cin) order, so that a kernel tap's Cin run is contiguous;
// returns its non-zero flags and counts the input's densities into s.
std::vector<uint8_t> scan_input(SparseLayer& s, const float* ifmap, bool keep_values,
                                const CompressedSizes* sizes) {
  const int64_t cin = s.g.cin, hw = s.g.h * s.g.w, in_n = cin * hw;
  if (keep_values) s.a.resize(size_t(in_n));
  std::vector<uint8_t> anz(static_cast<size_t>(in_n));
  s.act_elems = in_n;
  int64_t nz32 = 0, nz = 0;
  const Quant& q = s.qa;
  if (keep_values) {
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t p = 0; p < hw; ++p) s.a[size_t(p * cin + c)] = quantise_value(q, ifmap[c * hw + p]);
  }
  // Non-zero flags in the tensor's own (Cin, H·W) order, a block of channels at a time (a loop the
  // compiler vectorises), then a blocked transpose into (H·W, Cin).
  constexpr int64_t kBlock = 64;
  std::vector<uint8_t> flags(static_cast<size_t>(std::min<int64_t>(cin, kBlock) * hw));
  int64_t known_exact = 0;
  const std::vector<uint8_t>* known = sizes ? sizes->flags(ifmap, in_n, q, &known_exact) : nullptr;
  if (known) nz32 = known_exact;
  for (int64_t c0 = 0; c0 < cin; c0 += kBlock) {
    const int64_t cn = std::min(kBlock, cin - c0);
    const uint8_t* block = known ? known->data() + c0 * hw : flags.data();
    for (int64_t cc = 0; cc < cn; ++cc) {
      const float* x = ifmap + (c0 + cc) * hw;
      if (known) {
        for (int64_t p = 0; p < hw; ++p) nz += block[cc * hw + p];
      } else {
        int64_t e = 0;
        nz += nonzero_flags(q, x, hw, flags.data() + cc * hw, &e);
        nz32 += e;
      }
    }
    for (int64_t p = 0; p < hw; ++p) {
      uint8_t* out = anz.data() + p * cin + c0;
      for (int64_t cc = 0; cc < cn; ++cc) out[cc] = block[size_t(cc * hw + p)];
    }
  }
  s.act_nonzero_fp32 += nz32, s.act_nonzero += nz;
  return anz;
}

// Zero weights per row k, and the dequantised [K][N] weights when asked.
std::shared_ptr<const WeightScan> scan_weights(const SparseLayer& s, const float* weights, bool cin_inner,
                                               bool keep_values) {
  const GemmShape& g = s.g;
  const int64_t K = g.K, N = g.N, cin = g.cin;
  const int taps = g.kh * g.kw;
  auto w = std::make_shared<WeightScan>();
  w->zw.assign(size_t(K), 0);
  auto wq = keep_values ? std::make_shared<std::vector<float>>(size_t(K * N)) : nullptr;
  std::vector<uint8_t> nzf(static_cast<size_t>(cin * taps));  // one filter's non-zero flags
  int64_t* zw = w->zw.data();
  int64_t nz32 = 0;  // in a register: the zw stores may alias anything
  for (int64_t n = 0; n < N; ++n) {
    const float* row = weights + n * cin * taps;
    int64_t exact = 0;
    nonzero_flags(s.qw, row, cin * taps, nzf.data(), &exact);
    nz32 += exact;
    if (wq)
      for (int64_t c = 0; c < cin; ++c)
        for (int t = 0; t < taps; ++t) {
          int64_t k = cin_inner ? t * cin + c : c * taps + t;
          (*wq)[size_t(k * N + n)] = quantise_value(s.qw, row[c * taps + t]);
        }
    if (!cin_inner || taps == 1) {  // k runs with the weights' own order
      for (int64_t i = 0; i < cin * taps; ++i) zw[i] += !nzf[size_t(i)];
    } else {
      for (int64_t c = 0; c < cin; ++c)
        for (int t = 0; t < taps; ++t) zw[t * cin + c] += !nzf[size_t(c * taps + t)];
    }
  }
  w->nz_fp32 = nz32;
  w->nz = K * N;
  for (int64_t z : w->zw) w->nz -= z;
  w->w = std::move(wq);
  return w;
}

}  // namespace

bool WeightKey::operator==(const WeightKey& o) const {
  return node == o.node && src == o.src && n == o.n && step == o.step && type == o.type &&
         cin_inner == o.cin_inner && unsigned_ == o.unsigned_ && keep_values == o.keep_values;
}

std::shared_ptr<const WeightScan> WeightCache::find(const WeightKey& k) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto [a, b] = scans_.equal_range(k.node);
  for (auto it = a; it != b; ++it)
    if (it->second.first == k) return it->second.second;
  return nullptr;
}

std::shared_ptr<const WeightScan> WeightCache::keep(const WeightKey& k, std::shared_ptr<const WeightScan> s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [a, b] = scans_.equal_range(k.node);
  for (auto it = a; it != b; ++it)
    if (it->second.first == k) return it->second.second;
  scans_.emplace(k.node, std::make_pair(k, s));
  return s;
}

std::unique_ptr<SparseLayer> analyse_layer(const HwConfig& hw, const GemmShape& g, const LayerData& d,
                                           bool keep_values, WeightCache* cache, int node,
                                           const ScanOptions& opts, CompressedSizes* sizes) {
  auto sp = std::make_unique<SparseLayer>();
  SparseLayer& s = *sp;
  set_geometry(s, hw, g);
  // Quantisation: scales over all samples when the data source knows them, else this sample's.
  bool nn_a = d.ifmap_nonneg, nn_w = d.weights_nonneg;
  double ma = d.ifmap_max_abs >= 0 ? d.ifmap_max_abs : max_abs_of(d.ifmap, g.cin * g.h * g.w, nn_a);
  double mw = d.weight_max_abs >= 0 ? d.weight_max_abs : max_abs_of(d.weights, g.K * g.N, nn_w);
  s.qa = make_quant(hw.array.datatype, ma, nn_a);
  s.qw = make_quant(hw.array.datatype, mw, nn_w);
  const std::vector<uint8_t> anz = scan_input(s, d.ifmap, keep_values, sizes);
  const bool cin_inner = hw.array.k_order == KOrder::cin_inner;
  const WeightKey key{node,      d.weights, g.K * g.N,      s.qw.step,
                      s.qw.type, cin_inner, s.qw.unsigned_, keep_values};
  std::shared_ptr<const WeightScan> w = cache && node >= 0 ? cache->find(key) : nullptr;
  if (!w) {
    w = scan_weights(s, d.weights, cin_inner, keep_values);
    if (cache && node >= 0) w = cache->keep(key, w);
  }
  if (keep_values) s.w = w->w;
  s.weight_elems = g.K * g.N, s.weight_nonzero_fp32 = w->nz_fp32, s.weight_nonzero = w->nz;
  const detail::ScanInput in{anz, w->zw, cin_inner, opts};
  if (s.df == Dataflow::ws)
    detail::scan_ws(s, in);
  else if (s.df == Dataflow::os)
    detail::scan_os(s, in);
  else
    detail::scan_is(s, in);
  if (s.pad_entries != g.pad_pairs)
    throw ModelError(fmt::format("{}: internal: {} padding entries scanned, {} expected", g.name,
                                 s.pad_entries, g.pad_pairs));
  return sp;
}

const std::vector<uint8_t>* CompressedSizes::flags(const float* x, int64_t n, const Quant& q,
                                                   int64_t* exact) const {
  auto [a, b] = flags_.equal_range(x);
  for (auto it = a; it != b; ++it)
    if (const Flags& e = it->second;
        e.n == n && e.type == q.type && e.step == q.step && e.unsigned_ == q.unsigned_) {
      if (exact) *exact = e.exact;
      return &e.f;
    }
  return nullptr;
}

Compressed CompressedSizes::get(const float* x, int64_t n, const Quant& q, int elem_bits,
                                const CompressConfig& c) {
  auto [a, b] = seen_.equal_range(x);
  for (auto it = a; it != b; ++it)
    if (const Entry& e = it->second; e.n == n && e.type == q.type && e.step == q.step &&
                                     e.unsigned_ == q.unsigned_ && e.elem_bits == elem_bits &&
                                     e.format == c.format && e.run_bits == c.run_bits)
      return e.size;
  Compressed r;
  if (c.format == CompressFormat::none) {
    r = compressed_size(x, n, q, elem_bits, c);
  } else {
    const std::vector<uint8_t>* f = flags(x, n, q);
    if (!f) {
      Flags& fl = flags_
                      .emplace(x, Flags{x, n, q.type, q.step, q.unsigned_,
                                        std::vector<uint8_t>(static_cast<size_t>(n)), 0})
                      ->second;
      constexpr int64_t kChunk = 16384;  // each piece's passes stay in cache
      for (int64_t i = 0; i < n; i += kChunk) {
        int64_t e = 0;
        nonzero_flags(q, x + i, std::min(kChunk, n - i), fl.f.data() + i, &e);
        fl.exact += e;
      }
      f = &fl.f;
    }
    r = compressed_size_of_flags(f->data(), n, elem_bits, c);
  }
  seen_.emplace(x, Entry{x, n, q.type, q.step, q.unsigned_, elem_bits, c.format, c.run_bits, r});
  return r;
}

namespace {

// Compressed size with the zero test `zero` inlined into the loops (one instantiation per datatype).
// Run-length: each non-zero carries the count of zeros before it in run_bits; a run longer than
// the field holds emits filler entries (a zero value covering 2^run_bits elements); trailing zeros
// need fillers only (the tensor's size is known). `run` carries over between chunks.
int64_t rle_entries(const uint8_t* f, int64_t n, int shift, int64_t& run) {
  int64_t entries = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool z = !f[i];
    entries += z ? 0 : (run >> shift) + 1;
    run = z ? run + 1 : 0;
  }
  return entries;
}

Compressed finish(int64_t n, int64_t nnz_or_entries, int elem_bits, const CompressConfig& c) {
  Compressed r;
  if (c.format == CompressFormat::bitmap) {
    r.meta_bits = n;
    r.bits = nnz_or_entries * elem_bits + r.meta_bits;
  } else {
    r.meta_bits = nnz_or_entries * c.run_bits;
    r.bits = nnz_or_entries * elem_bits + r.meta_bits;
  }
  return r;
}

}  // namespace

Compressed compressed_size(const float* x, int64_t n, const Quant& q, int elem_bits,
                           const CompressConfig& c) {
  if (c.format == CompressFormat::none) {
    Compressed r;
    r.bits = n * elem_bits;
    return r;
  }
  constexpr int64_t kChunk = 16384;  // flags a chunk at a time
  uint8_t f[kChunk];
  int64_t count = 0, run = 0;
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t m = std::min(kChunk, n - i);
    const int64_t nnz = nonzero_flags(q, x + i, m, f);
    count += c.format == CompressFormat::bitmap ? nnz : rle_entries(f, m, c.run_bits, run);
  }
  if (c.format != CompressFormat::bitmap) count += run >> c.run_bits;
  return finish(n, count, elem_bits, c);
}

Compressed compressed_size_of_flags(const uint8_t* f, int64_t n, int elem_bits, const CompressConfig& c) {
  if (c.format == CompressFormat::none)
    return finish(n, n, elem_bits, CompressConfig{CompressFormat::bitmap, 0});
  if (c.format == CompressFormat::bitmap) {
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; ++i) nnz += f[i];
    return finish(n, nnz, elem_bits, c);
  }
  int64_t run = 0, entries = rle_entries(f, n, c.run_bits, run);
  return finish(n, entries + (run >> c.run_bits), elem_bits, c);
}

}  // namespace eatsim::sim
