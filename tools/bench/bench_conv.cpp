// The convolution ceiling: every conv2d of a built-in model alone, as oneDNN primitives with the
// layouts they choose (format_tag::any, no reorders), forward / backward-data / backward-weights,
// each timed on its own. Prints one JSON line with the summed seconds per pass for one training
// step and the FLOPs. Driven by trainer_vs_pytorch.py; threads from OMP_NUM_THREADS.
//   bench_conv resnet18 WIDTH BATCH REPS [fast|bf16]
// bf16: activations, weights and their gradients in bf16 (fp32 accumulation inside the kernels),
// weight gradients in fp32 as the trainer's --precision bf16 runs them; direct convolutions, and
// for outputs narrower than 8 the matmuls the trainer runs there instead.
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "trainer/net.hpp"

namespace {

using namespace eatsim;
using dnnl::memory;
using md = dnnl::memory::desc;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Minimum over reps of f's wall seconds, after one untimed run.
template <class F>
double best(int reps, F&& f) {
  f();
  double b = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    b = std::min(b, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s MODEL WIDTH BATCH REPS [fast]\n", argv[0]);
    return 2;
  }
  ParamOverrides o;
  o.has_width = true;
  o.p.width = std::atof(argv[2]);
  Graph g = load_graph(argv[1], o);
  int64_t N = std::atoi(argv[3]);
  int reps = std::atoi(argv[4]);
  std::string mode = argc > 5 ? argv[5] : "";
  bool fast = mode == "fast", bf16 = mode == "bf16";
  const dt act = bf16 ? dt::bf16 : dt::f32;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  double t_fwd = 0, t_bd = 0, t_bw = 0, f_fwd = 0, f_bd = 0, f_bw = 0;
  std::string layers;
  for (const Node& n : g.nodes) {
    if (n.op != Op::conv2d) continue;
    const Shape& x = g.in_shape(n, 0);
    int64_t C = x[0], H = x[1], W = x[2], O = n.out_channels, OH = n.out_shape[1], OW = n.out_shape[2];
    memory::dims st{n.sh, n.sw}, pl{n.ph, n.pw};
    memory::dims pr{std::max<int64_t>(0, (OH - 1) * n.sh + n.kh - H - n.ph),
                    std::max<int64_t>(0, (OW - 1) * n.sw + n.kw - W - n.pw)};
    // The trainer's choice (Net::set_fast_conv): Winograd where it suits, else direct.
    auto algo = fast && winograd_suits(n, C) ? dnnl::algorithm::convolution_auto
                                             : dnnl::algorithm::convolution_direct;
    md src({N, C, H, W}, act, tag::any), wei({O, C, n.kh, n.kw}, act, tag::any);
    md dst({N, O, OH, OW}, act, tag::any), nob, dwei({O, C, n.kh, n.kw}, dt::f32, tag::any);
    dnnl::convolution_forward::primitive_desc fpd(
        {dnnl::prop_kind::forward_training, algo, src, wei, nob, dst, st, pl, pr}, eng);
    dnnl::convolution_backward_data::primitive_desc dpd({algo, src, wei, dst, st, pl, pr}, eng, fpd);
    dnnl::convolution_backward_weights::primitive_desc wpd({algo, src, dwei, nob, dst, st, pl, pr}, eng, fpd);
    if (std::getenv("BENCH_CONV_IMPL"))
      std::fprintf(stderr, "%s: fwd %s, bwd_data %s, bwd_w %s\n", n.name.c_str(), fpd.impl_info_str(),
                   dpd.impl_info_str(), wpd.impl_info_str());
    memory ms(fpd.src_desc(), eng), mw(fpd.weights_desc(), eng), md_(fpd.dst_desc(), eng);
    memory dd(dpd.diff_dst_desc(), eng), dw(dpd.weights_desc(), eng), ds(dpd.diff_src_desc(), eng);
    memory ws(wpd.src_desc(), eng), wdd(wpd.diff_dst_desc(), eng), wdw(wpd.diff_weights_desc(), eng);
    for (memory* m : {&ms, &mw, &dd, &dw, &ws, &wdd}) {
      bool half = m->get_desc().data_type() == dt::bf16;
      size_t k = m->get_desc().get_size() / (half ? 2 : 4);
      for (size_t i = 0; i < k; ++i) {
        float v = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
        if (!half) {
          static_cast<float*>(m->get_data_handle())[i] = v;
          continue;
        }
        uint32_t u;
        std::memcpy(&u, &v, 4);
        static_cast<uint16_t*>(m->get_data_handle())[i] = static_cast<uint16_t>(u >> 16);
      }
    }
    dnnl::convolution_forward fwd(fpd);
    dnnl::convolution_backward_data bd(dpd);
    dnnl::convolution_backward_weights bw(wpd);
    double flops = 2.0 * N * O * OH * OW * C * n.kh * n.kw;
    double tf = best(reps, [&] {
      fwd.execute(s, {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md_}});
      s.wait();
    });
    // The net skips d(input) for the layer reading the graph input.
    bool needs_bd = n.in[0] >= 0;
    double td = !needs_bd ? 0 : best(reps, [&] {
      bd.execute(s, {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_WEIGHTS, dw}, {DNNL_ARG_DIFF_SRC, ds}});
      s.wait();
    });
    double tw = best(reps, [&] {
      bw.execute(s, {{DNNL_ARG_SRC, ws}, {DNNL_ARG_DIFF_DST, wdd}, {DNNL_ARG_DIFF_WEIGHTS, wdw}});
      s.wait();
    });
    // eatsim's bf16 path for output rows narrower than 8 (trainer/layers/conv_gemm.hpp): three
    // matmuls over an im2col copy instead of the convolution primitives (the copies not timed, as
    // the layout conversions are not for the primitives).
    if (bf16 && OW < 8 && n.groups == 1 && !n.bias) {
      const int64_t rows = N * OH * OW, K = C * n.kh * n.kw;
      auto mm = [&](memory::dim m, memory::dim k, memory::dim nn, bool ta) {
        md a({m, k}, dt::bf16, ta ? tag::ba : tag::ab), b({k, nn}, dt::bf16, tag::ab),
            c({m, nn}, dt::f32, tag::ab);
        dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), eng);
        memory ma(a, eng), mb(b, eng), mc(c, eng);
        std::memset(ma.get_data_handle(), 0x3c, a.get_size()),
            std::memset(mb.get_data_handle(), 0x3c, b.get_size());
        dnnl::matmul p(pd);
        return best(reps, [&] {
          p.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
          s.wait();
        });
      };
      tf = mm(rows, K, O, false), td = needs_bd ? mm(rows, O, K, false) : 0, tw = mm(O, rows, K, true);
    }
    t_fwd += tf, t_bd += td, t_bw += tw;
    f_fwd += flops, f_bd += needs_bd ? flops : 0, f_bw += flops;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s{\"name\":\"%s\",\"gflop\":%.3f,\"fwd_s\":%.6f,\"bwd_data_s\":%.6f,\"bwd_w_s\":%.6f}",
                  layers.empty() ? "" : ",", n.name.c_str(), flops * 1e-9, tf, td, tw);
    layers += buf;
  }
  std::printf(
      "{\"fwd_s\":%.6f,\"bwd_data_s\":%.6f,\"bwd_w_s\":%.6f,\"fwd_gflop\":%.3f,\"bwd_data_gflop\":%.3f,"
      "\"bwd_w_gflop\":%.3f,\"layers\":[%s]}\n",
      t_fwd, t_bd, t_bw, f_fwd * 1e-9, f_bd * 1e-9, f_bw * 1e-9, layers.c_str());
  return 0;
}
