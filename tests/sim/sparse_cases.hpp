// Helpers of the sparse-feature tests: small configs on the SCALE-Sim preset and GEMMs as 1x1 convs.
#pragma once
#include <string>
#include <vector>

#include "sim/hwconfig.hpp"
#include "sim/network.hpp"
#include "sim/sparse.hpp"

namespace eatsim::sim::test_sparse {

inline HwConfig hwc(const char* df, int R, int C, std::vector<std::string> extra) {
  std::vector<std::string> sets = {std::string("array.dataflow=") + df,
                                   "array.rows=" + std::to_string(R),
                                   "array.cols=" + std::to_string(C),
                                   "array.datatype=fp32",
                                   "scalesim_compat=true",
                                   "sparsity.compress.format=none"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_hwconfig("scalesim32", sets);
}
inline std::vector<std::string> ws_skip(int G, int D, int L, int P) {
  return {"sparsity.skip.enabled=true", "sparsity.skip.group=" + std::to_string(G),
          "sparsity.skip.fifo_depth=" + std::to_string(D), "sparsity.skip.lookahead=" + std::to_string(L),
          "sparsity.skip.acc_ports=" + std::to_string(P)};
}

// An M x K x N GEMM as a 1x1 conv on an M x 1 image; A[m][k] = ifmap[k*M + m].
struct Gemm {
  GemmShape g;
  std::vector<float> in, w;
  Gemm(int64_t M, int64_t K, int64_t N) : g(conv_gemm("g", K, M, 1, N, 1, 1, 1, 1, 0, 0)) {
    in.assign(size_t(M * K), 0.0f);
    w.assign(size_t(K * N), 1.0f);
  }
  void set(int64_t m, int64_t k, float v) { in[size_t(k * g.M + m)] = v; }
  LayerData data() const {
    LayerData d;
    d.ifmap = in.data(), d.weights = w.data();
    return d;
  }
};

inline Counters run(const HwConfig& hw, const Gemm& x, Fidelity f = Fidelity::fast) {
  LayerIo io;
  LayerData d = x.data();
  auto sp = analyse_layer(hw, x.g, d);
  return simulate_gemm(hw, x.g, io, f, sp.get());
}

}  // namespace eatsim::sim::test_sparse
