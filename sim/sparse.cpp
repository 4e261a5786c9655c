// Layer scan for the value-driven features: see sparse.hpp.
#include "sim/sparse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <unordered_map>

#include "base/errors.hpp"
#include "sim/network.hpp"

namespace eatsim::sim {

namespace testing {
namespace {
std::atomic<bool> g_perturbed{false};
std::atomic<bool> g_generic{false};
}  // namespace
void set_generic_scan(bool on) { g_generic = on; }
bool generic_scan() { return g_generic; }
void set_skip_rule_perturbed(bool on) { g_perturbed = on; }
bool skip_rule_perturbed() { return g_perturbed; }
}  // namespace testing

namespace {

double max_abs_of(const float* x, int64_t n, bool& nonneg) {
  double m = 0;
  nonneg = true;
  for (int64_t i = 0; i < n; ++i) {
    m = std::max(m, double(std::fabs(x[i])));
    if (x[i] < 0) nonneg = false;
  }
  return m;
}

// Entry flags of one im2col row: 0 zero activation, 1 non-zero, 2 padding tap.
enum : uint8_t { kZero = 0, kNz = 1, kPad = 2 };

// WS with K = (kh, kw, Cin), Cin a multiple of G and R a multiple of G: every G-slice is one tap's
// run of G channels, so one bit per (input pixel, channel group) answers every slice.
void scan_ws_fast(SparseLayer& s, const std::vector<uint8_t>& anz, const std::vector<int64_t>& zw) {
  const GemmShape& g = s.g;
  const int64_t M = g.M, K = g.K, N = g.N, cin = g.cin, H = g.h, W = g.w, G = s.G;
  const int64_t cg_n = cin / G, gpt = s.R / G, kt_n = (K + s.R - 1) / s.R;
  const bool perturbed = testing::skip_rule_perturbed();
  bool weights_dense = true;
  for (int64_t v : zw) weights_dense &= v == 0;
  // Per input pixel: non-zeros per channel group, and the total.
  std::vector<uint8_t> gnz(size_t(H * W * cg_n));
  std::vector<int64_t> pnz(size_t(H * W), 0);
  for (int64_t p = 0; p < H * W; ++p)
    for (int64_t cg = 0; cg < cg_n; ++cg) {
      int n = 0;
      for (int64_t j = 0; j < G; ++j) n += anz[size_t(p * cin + cg * G + j)];
      gnz[size_t(p * cg_n + cg)] = uint8_t(std::min(n, 255));
      pnz[size_t(p)] += n;
    }
  s.ws_mask.assign(size_t(kt_n * M), 0);
  const int64_t slices = K / G;
  std::vector<int64_t> base(size_t(g.kh * g.kw));  // per tap: input pixel index, or -1 on padding
  for (int64_t m = 0; m < M; ++m) {
    int64_t oy = m / g.wo, ox = m % g.wo;
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx = 0; kx < g.kw; ++kx) {
        int64_t iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx, t = ky * g.kw + kx;
        bool pad = iy < 0 || iy >= H || ix < 0 || ix >= W;
        base[size_t(t)] = pad ? -1 : iy * W + ix;
        if (pad) {
          s.pad_entries += cin;
          continue;
        }
        int64_t nz = pnz[size_t(iy * W + ix)];
        s.zero_entries += cin - nz;
        if (weights_dense) {
          s.mac_nonzero += nz * N;
        } else {
          const uint8_t* a = &anz[size_t((iy * W + ix) * cin)];
          for (int64_t c = 0; c < cin; ++c)
            if (a[c])
              s.zero_weight_macs += zw[size_t(t * cin + c)], s.mac_nonzero += N - zw[size_t(t * cin + c)];
        }
      }
    for (int64_t sl = 0; sl < slices; ++sl) {
      int64_t t = sl / cg_n, p = base[size_t(t)];
      int n = p < 0 ? -1 : gnz[size_t(p * cg_n + sl % cg_n)];  // -1: padding, always work
      bool work = n != 0;
      if (perturbed && n == 1) work = false;  // test hook: a wrong skip rule
      ++s.gslices;
      if (!work) {
        ++s.gslices_zero;
        if (s.skip) s.skipped_entries += G;
      }
      if (work || !s.skip) s.ws_mask[size_t((sl / gpt) * M + m)] |= uint64_t(1) << (sl % gpt);
    }
  }
}

}  // namespace

std::unique_ptr<SparseLayer> analyse_layer(const HwConfig& hw, const GemmShape& g, const LayerData& d,
                                           bool keep_values) {
  auto sp = std::make_unique<SparseLayer>();
  SparseLayer& s = *sp;
  s.g = g, s.df = hw.array.dataflow, s.R = hw.array.rows, s.C = hw.array.cols;
  s.skip = hw.sparsity.skip.enabled;
  s.G = s.skip && s.df != Dataflow::is ? hw.sparsity.skip.group : (s.df == Dataflow::os ? s.R : s.R);
  if (s.df == Dataflow::ws && (s.R + s.G - 1) / s.G > 64)
    throw ConfigError(
        fmt::format("{}: sparsity.skip.group: {} rows in groups of {} make more than 64 lane "
                    "groups, which this engine does not model",
                    hw.file, s.R, s.G));
  const int64_t M = g.M, K = g.K, N = g.N, cin = g.cin, H = g.h, W = g.w;
  const int64_t in_n = cin * H * W;
  // Quantisation: scales over all samples when the data source knows them, else this sample's.
  bool nn_a = d.ifmap_nonneg, nn_w = d.weights_nonneg;
  double ma = d.ifmap_max_abs >= 0 ? d.ifmap_max_abs : max_abs_of(d.ifmap, in_n, nn_a);
  double mw = d.weight_max_abs >= 0 ? d.weight_max_abs : max_abs_of(d.weights, K * N, nn_w);
  s.qa = make_quant(hw.array.datatype, ma, nn_a);
  s.qw = make_quant(hw.array.datatype, mw, nn_w);
  // Input in (H, W, Cin) so that a kernel tap's Cin run is contiguous.
  if (keep_values) s.a.resize(size_t(in_n));
  std::vector<uint8_t> anz(static_cast<size_t>(in_n));
  s.act_elems = in_n;
  for (int64_t c = 0; c < cin; ++c)
    for (int64_t p = 0; p < H * W; ++p) {
      float x = d.ifmap[c * H * W + p];
      bool z = quantises_to_zero(s.qa, x);
      if (keep_values) s.a[size_t(p * cin + c)] = quantise_value(s.qa, x);
      anz[size_t(p * cin + c)] = !z;
      s.act_nonzero_fp32 += x != 0;
      s.act_nonzero += !z;
    }
  // Dequantised weights as [K][N] (kept for the check only) and zero weights per row k: they do
  // not change between samples, so they are cached per thread by the data source's weights id
  // (every layer of a trace, up to 256 tensors; a hardware change re-keys by step and type).
  const int taps = g.kh * g.kw;
  const bool cin_inner = hw.array.k_order == KOrder::cin_inner;
  struct ZwCache {
    uint64_t id = 0;
    int64_t n = 0;
    double step = -1;
    DataType t = DataType::fp32;
    bool cin_inner = true, unsigned_ = false;
    std::vector<int64_t> zw;
    int64_t nz_fp32 = 0, nz = 0;                  // non-zero weights before / after quantisation
    std::shared_ptr<const std::vector<float>> w;  // dequantised [K][N], when a check asked for it
  };
  static thread_local std::unordered_map<uint64_t, ZwCache> caches;
  if (caches.size() > 256) caches.clear();
  ZwCache& cache = caches[d.weights_id];
  if (d.weights_id == 0) cache = ZwCache{};
  const bool hit = d.weights_id != 0 && cache.id == d.weights_id && cache.n == K * N &&
                   cache.step == s.qw.step && cache.t == s.qw.type && cache.cin_inner == cin_inner &&
                   cache.unsigned_ == s.qw.unsigned_;
  if (!hit || (keep_values && !cache.w)) {
    std::vector<int64_t> zw(size_t(K), 0);
    int64_t nz_fp32 = 0;
    auto wq = keep_values ? std::make_shared<std::vector<float>>(size_t(K * N)) : nullptr;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < cin; ++c)
        for (int t = 0; t < taps; ++t) {
          int64_t k = cin_inner ? t * cin + c : c * taps + t;
          float x = d.weights[(n * cin + c) * taps + t];
          if (wq) (*wq)[size_t(k * N + n)] = quantise_value(s.qw, x);
          zw[size_t(k)] += quantises_to_zero(s.qw, x);
          nz_fp32 += x != 0;
        }
    cache.nz_fp32 = nz_fp32, cache.nz = K * N;
    for (int64_t z : zw) cache.nz -= z;
    cache.id = d.weights_id, cache.n = K * N, cache.step = s.qw.step, cache.t = s.qw.type;
    cache.cin_inner = cin_inner, cache.unsigned_ = s.qw.unsigned_, cache.zw = std::move(zw);
    cache.w = std::move(wq);
  }
  if (keep_values) s.w = cache.w;
  s.weight_elems = K * N, s.weight_nonzero_fp32 = cache.nz_fp32, s.weight_nonzero = cache.nz;
  const std::vector<int64_t>& zw = cache.zw;
  if (s.df == Dataflow::ws && cin_inner && cin % s.G == 0 && s.R % s.G == 0 && !testing::generic_scan()) {
    scan_ws_fast(s, anz, zw);
    return sp;
  }
  // Per-dataflow summaries.
  const int64_t kt_n = (K + s.R - 1) / s.R;
  const bool perturbed = testing::skip_rule_perturbed();
  if (s.df == Dataflow::ws) s.ws_mask.assign(size_t(kt_n * M), 0);
  const int64_t os_tiles = (M + s.R - 1) / s.R;
  if (s.df == Dataflow::os) {
    s.os_groups = (s.R + s.G - 1) / s.G;
    s.os_keep.assign(size_t(os_tiles * s.os_groups * K), 0);
    s.os_count.assign(size_t(os_tiles * s.os_groups), 0);
  }
  const int64_t is_tiles = (M + s.C - 1) / s.C;
  std::vector<uint8_t> tile_or;
  if (s.df == Dataflow::is) s.is_rows.resize(size_t(is_tiles)), tile_or.assign(size_t(K), 0);

  std::vector<uint8_t> row(static_cast<size_t>(K));
  for (int64_t m = 0; m < M; ++m) {
    int64_t oy = m / g.wo, ox = m % g.wo;
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx = 0; kx < g.kw; ++kx) {
        int t = ky * g.kw + kx;
        int64_t iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
        bool pad = iy < 0 || iy >= H || ix < 0 || ix >= W;
        const uint8_t* src = pad ? nullptr : &anz[size_t((iy * W + ix) * cin)];
        for (int64_t c = 0; c < cin; ++c) {
          int64_t k = cin_inner ? t * cin + c : c * taps + t;
          row[size_t(k)] = pad ? uint8_t(kPad) : src[c];
        }
      }
    for (int64_t k = 0; k < K; ++k) {
      uint8_t f = row[size_t(k)];
      if (f == kPad) {
        ++s.pad_entries;
      } else if (f == kZero) {
        ++s.zero_entries;
      } else {
        s.zero_weight_macs += zw[size_t(k)];
        s.mac_nonzero += N - zw[size_t(k)];
      }
    }
    if (s.df == Dataflow::ws) {
      for (int64_t kt = 0; kt < kt_n; ++kt) {
        int64_t k0 = kt * s.R, rows = std::min<int64_t>(s.R, K - k0);
        uint64_t mask = 0;
        for (int64_t g0 = 0, gi = 0; g0 < rows; g0 += s.G, ++gi) {
          int64_t gs = std::min<int64_t>(s.G, rows - g0);
          int nz = 0;
          bool any_pad = false;
          for (int64_t j = 0; j < gs; ++j) {
            uint8_t f = row[size_t(k0 + g0 + j)];
            nz += f == kNz, any_pad |= f == kPad;
          }
          bool work = nz > 0 || any_pad;
          if (perturbed && nz == 1 && !any_pad) work = false;  // test hook: a wrong skip rule
          ++s.gslices;
          if (!work) {
            ++s.gslices_zero;
            if (s.skip) s.skipped_entries += gs;
          }
          if (work || !s.skip) mask |= uint64_t(1) << gi;
        }
        s.ws_mask[size_t(kt * M + m)] = mask;
      }
    } else if (s.df == Dataflow::os) {
      int64_t mt = m / s.R, gi = (m % s.R) / s.G;
      uint8_t* keep = &s.os_keep[size_t((mt * s.os_groups + gi) * K)];
      for (int64_t k = 0; k < K; ++k) keep[k] |= row[size_t(k)] != kZero;
    } else {
      for (int64_t k = 0; k < K; ++k) tile_or[size_t(k)] |= row[size_t(k)] != kZero;
      int64_t mt = m / s.C;
      if (m == M - 1 || (m + 1) % s.C == 0) {
        int64_t cols = m - mt * s.C + 1;
        auto& rows = s.is_rows[size_t(mt)];
        for (int64_t k = 0; k < K; ++k) {
          ++s.gslices;
          if (tile_or[size_t(k)] || !s.skip) rows.push_back(int32_t(k));
          if (!tile_or[size_t(k)]) {
            ++s.gslices_zero;
            if (s.skip) s.skipped_entries += cols;
          }
        }
        std::fill(tile_or.begin(), tile_or.end(), 0);
      }
    }
  }
  if (s.df == Dataflow::os) {
    for (int64_t mt = 0; mt < os_tiles; ++mt)
      for (int gi = 0; gi < s.os_groups; ++gi) {
        int64_t p0 = mt * s.R + int64_t(gi) * s.G;
        int64_t gs = std::max<int64_t>(0, std::min<int64_t>({s.G, M - p0, (mt + 1) * s.R - p0}));
        if (gs == 0) continue;
        uint8_t* keep = &s.os_keep[size_t((mt * s.os_groups + gi) * K)];
        int64_t n = 0;
        for (int64_t k = 0; k < K; ++k) n += keep[k];
        s.gslices += K, s.gslices_zero += K - n;
        if (s.skip) {
          s.skipped_entries += (K - n) * gs;
        } else {
          std::fill(keep, keep + K, uint8_t(1)), n = K;
        }
        s.os_count[size_t(mt * s.os_groups + gi)] = n;
      }
  }
  if (s.pad_entries != g.pad_pairs)
    throw ModelError(fmt::format("{}: internal: {} padding entries scanned, {} expected", g.name,
                                 s.pad_entries, g.pad_pairs));
  return sp;
}

Compressed compressed_size(const float* x, int64_t n, const Quant& q, int elem_bits,
                           const CompressConfig& c) {
  Compressed r;
  if (c.format == CompressFormat::none) {
    r.bits = n * elem_bits;
    return r;
  }
  int64_t nnz = 0;
  for (int64_t i = 0; i < n; ++i) nnz += quantise_value(q, x[i]) != 0;
  if (c.format == CompressFormat::bitmap) {
    r.meta_bits = n;
    r.bits = nnz * elem_bits + r.meta_bits;
    return r;
  }
  // Run-length: each non-zero carries the count of zeros before it in run_bits; a run longer than
  // the field holds emits filler entries (a zero value covering 2^run_bits elements); trailing
  // zeros need fillers only (the tensor's size is known).
  const int64_t span = int64_t(1) << c.run_bits;  // elements one filler covers (max run + the zero)
  int64_t entries = 0, run = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (quantise_value(q, x[i]) == 0) {
      ++run;
      continue;
    }
    entries += run / span + 1;
    run = 0;
  }
  entries += run / span;
  r.meta_bits = entries * c.run_bits;
  r.bits = entries * elem_bits + r.meta_bits;
  return r;
}

}  // namespace eatsim::sim
