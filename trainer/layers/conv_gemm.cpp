// See conv_gemm.hpp: a narrow bf16 convolution as three matmuls over an im2col copy.
#include "trainer/layers/conv_gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace eatsim::trainer {
namespace {

// Memory for a buffer of `pool` (bound later, with the pool's other buffers, to one allocation).
memory pooled(Env& e, const md& d, std::vector<memory>* pool) {
  memory m(d, e.eng, DNNL_MEMORY_NONE);
  pool->push_back(m);
  return m;
}

// C (m×n, fp32) = A (m×k, bf16) · B (k×n, bf16); A transposed in memory when `a_transposed`.
dnnl::matmul bf16_matmul(Env& e, int64_t m, int64_t k, int64_t n, bool a_transposed = false) {
  return dnnl::matmul(dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(md({m, k}, dt::bf16, a_transposed ? tag::ba : tag::ab),
                         md({k, n}, dt::bf16, tag::ab), md({m, n}, dt::f32, tag::ab)),
      e.eng));
}

// The same bytes as `m`, seen with another desc of the same size.
memory view(Env& e, const md& d, const memory& m) { return memory(d, e.eng, m.get_data_handle()); }

}  // namespace

bool Im2colConv::suits(const Env& e, const Node& n, const md& in, int64_t out_w) {
  return e.bf16 && n.groups == 1 && !n.bias && out_w < 8 && in == md(in.dims(), dt::f32, tag::nhwc);
}

Im2colConv::Im2colConv(BuildArgs& a, const md& w_user) : need_dx_(static_cast<bool>(a.diff_in[0])) {
  Env& e = a.env;
  const Node& n = a.node;
  const Shape& x = a.in[0]->dims;
  N_ = x[0], C_ = x[1], H_ = x[2], W_ = x[3], O_ = n.out_channels, OH_ = n.out_shape[1], OW_ = n.out_shape[2];
  kh_ = n.kh, kw_ = n.kw, sh_ = n.sh, sw_ = n.sw, ph_ = n.ph, pw_ = n.pw, dh_ = n.dh, dw_ = n.dw;
  const int64_t rows = N_ * OH_ * OW_, K = kh_ * kw_ * C_;
  a.out.dims = {N_, O_, OH_, OW_};
  a.out.desc = md({N_, O_, OH_, OW_}, dt::f32, tag::nhwc);
  const md x16({N_, C_, H_, W_}, dt::bf16, tag::nhwc), dy16({N_, O_, OH_, OW_}, dt::bf16, tag::nhwc);
  x16_ = memory(x16, e.eng);
  x_to16_ = make_reorder(e, a.in[0]->desc, x16);
  col_ = pooled(e, md({rows, K}, dt::bf16, tag::ab), a.col_scratch);
  // Weights as the GEMMs read them: (K, O) with K = (kh, kw, c) is hwio; (O, K) is ohwi.
  const md w_hwio({O_, C_, kh_, kw_}, dt::bf16, tag::hwio), w_ohwi({O_, C_, kh_, kw_}, dt::bf16, tag::ohwi);
  w_fwd_ = pooled(e, w_hwio, a.scratch);
  w_to_fwd_ = make_reorder(e, w_user, w_hwio);
  fwd_ = bf16_matmul(e, rows, K, O_);
  if (!a.backward) return;
  dy16_ = pooled(e, dy16, a.grad_scratch);
  dy_to16_ = make_reorder(e, a.out.desc, dy16);
  if (need_dx_) {
    dcol_ = pooled(e, md({rows, K}, dt::f32, tag::ab), a.col_scratch);
    w_bwd_ = pooled(e, w_ohwi, a.scratch);
    w_to_bwd_ = make_reorder(e, w_user, w_ohwi);
    bwd_data_ = bf16_matmul(e, rows, O_, K);
  }
  const md dw_ohwi({O_, C_, kh_, kw_}, dt::f32, tag::ohwi);
  dw_out_ = pooled(e, dw_ohwi, a.scratch);
  dw_to_user_ = make_reorder(e, dw_ohwi, w_user);
  // d(y) is (rows, O) row-major; dW's GEMM reads it transposed, (O, rows), without a copy.
  bwd_w_ = bf16_matmul(e, O_, rows, K, true);
}

void Im2colConv::im2col(const uint16_t* x, uint16_t* col) const {
  const int64_t rows = N_ * OH_ * OW_, K = kh_ * kw_ * C_;
  const size_t cbytes = sizeof(uint16_t) * C_;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / (OH_ * OW_), oh = r / OW_ % OH_, ow = r % OW_;
    uint16_t* dst = col + r * K;
    for (int64_t i = 0; i < kh_; ++i) {
      const int64_t ih = oh * sh_ - ph_ + i * dh_;
      for (int64_t j = 0; j < kw_; ++j, dst += C_) {
        const int64_t iw = ow * sw_ - pw_ + j * dw_;
        if (ih < 0 || ih >= H_ || iw < 0 || iw >= W_)
          std::memset(dst, 0, cbytes);
        else
          std::memcpy(dst, x + ((n * H_ + ih) * W_ + iw) * C_, cbytes);
      }
    }
  }
}

// dx = Σ over taps of d(col), scattered back; images are independent, so threads take images.
void Im2colConv::col2im(const float* dcol, float* dx) const {
  const int64_t K = kh_ * kw_ * C_, img = H_ * W_ * C_;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N_; ++n) {
    float* out = dx + n * img;
    std::fill(out, out + img, 0.0f);
    for (int64_t oh = 0; oh < OH_; ++oh)
      for (int64_t ow = 0; ow < OW_; ++ow) {
        const float* src = dcol + ((n * OH_ + oh) * OW_ + ow) * K;
        for (int64_t i = 0; i < kh_; ++i) {
          const int64_t ih = oh * sh_ - ph_ + i * dh_;
          for (int64_t j = 0; j < kw_; ++j, src += C_) {
            const int64_t iw = ow * sw_ - pw_ + j * dw_;
            if (ih < 0 || ih >= H_ || iw < 0 || iw >= W_) continue;
            float* d = out + (ih * W_ + iw) * C_;
#pragma omp simd
            for (int64_t c = 0; c < C_; ++c) d[c] += src[c];
          }
        }
      }
  }
}

void Im2colConv::forward(Env& e, const memory& x, const memory& y, const memory& w) {
  const int64_t rows = N_ * OH_ * OW_, K = kh_ * kw_ * C_;
  x_to16_.execute(e.s, const_cast<memory&>(x), x16_);
  w_to_fwd_.execute(e.s, const_cast<memory&>(w), w_fwd_);
  e.s.wait();
  im2col(static_cast<const uint16_t*>(x16_.get_data_handle()),
         static_cast<uint16_t*>(col_.get_data_handle()));
  fwd_.execute(e.s, {{DNNL_ARG_SRC, col_},
                     {DNNL_ARG_WEIGHTS, view(e, md({K, O_}, dt::bf16, tag::ab), w_fwd_)},
                     {DNNL_ARG_DST, view(e, md({rows, O_}, dt::f32, tag::ab), y)}});
}

void Im2colConv::backward(Env& e, const memory& dy, const memory& dx, const memory& w, const memory& dw) {
  const int64_t rows = N_ * OH_ * OW_, K = kh_ * kw_ * C_;
  dy_to16_.execute(e.s, const_cast<memory&>(dy), dy16_);
  if (dx) {
    w_to_bwd_.execute(e.s, const_cast<memory&>(w), w_bwd_);
    bwd_data_.execute(e.s, {{DNNL_ARG_SRC, view(e, md({rows, O_}, dt::bf16, tag::ab), dy16_)},
                            {DNNL_ARG_WEIGHTS, view(e, md({O_, K}, dt::bf16, tag::ab), w_bwd_)},
                            {DNNL_ARG_DST, dcol_}});
    e.s.wait();
    col2im(static_cast<const float*>(dcol_.get_data_handle()), static_cast<float*>(dx.get_data_handle()));
  }
  e.s.wait();
  im2col(static_cast<const uint16_t*>(x16_.get_data_handle()),
         static_cast<uint16_t*>(col_.get_data_handle()));
  bwd_w_.execute(e.s, {{DNNL_ARG_SRC, view(e, md({O_, rows}, dt::bf16, tag::ba), dy16_)},
                       {DNNL_ARG_WEIGHTS, col_},
                       {DNNL_ARG_DST, view(e, md({O_, K}, dt::f32, tag::ab), dw_out_)}});
  dw_to_user_.execute(e.s, dw_out_, const_cast<memory&>(dw));
}

}  // namespace eatsim::trainer
