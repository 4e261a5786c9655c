// A bf16 convolution as GEMMs over an im2col copy of its input, for layers whose output rows are
// too short for oneDNN 2.6's AMX convolution kernels: they tile along the output width, so at 4x4
// outputs (ResNet18's last stage at 32x32 inputs) their 16-row tiles stay mostly empty (backward-
// weights 300 GFLOP/s there against 1600 at 32x32). Forward, backward-data and backward-weights
// are each one oneDNN matmul (bf16 operands, fp32 accumulation and results, as the convolution
// primitives): y = col·Wᵀ, d(col) = dy·W then col2im, dW = dyᵀ·col. Private to conv2d (oneDNN).
#pragma once
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {

class Im2colConv {
 public:
  // Whether this path serves the convolution: bf16, one group, no bias, output width below 8, and
  // its input edge in plain channels-last fp32 (then its output is too).
  static bool suits(const Env& e, const Node& n, const md& in, int64_t out_w);
  // Sets a.out.desc (fp32 channels-last) and builds the matmuls and buffers.
  Im2colConv(BuildArgs& a, const md& w_user);
  void forward(Env& e, const memory& x, const memory& y, const memory& w);
  // dx (when given, fp32 channels-last like x) and dW (PyTorch layout) from dy.
  void backward(Env& e, const memory& dy, const memory& dx, const memory& w, const memory& dw);

 private:
  void im2col(const uint16_t* x, uint16_t* col) const;
  void col2im(const float* dcol, float* dx) const;

  int64_t N_, C_, H_, W_, O_, OH_, OW_, kh_, kw_, sh_, sw_, ph_, pw_, dh_, dw_;
  memory x16_;            // the input in bf16, kept from forward to backward (small: narrow layers)
  memory col_, dcol_;     // im2col (rows, KH·KW·C) bf16 and its gradient fp32: one scratch pool
  memory w_fwd_, w_bwd_;  // bf16 weights as (KH·KW·C, O) and (O, KH·KW·C): the weights' pool
  memory dw_out_;         // fp32 (O, KH·KW·C): the weights' pool
  memory dy16_;           // d(y) in bf16: the output gradients' pool
  dnnl::reorder x_to16_, w_to_fwd_, w_to_bwd_, dy_to16_, dw_to_user_;
  dnnl::matmul fwd_, bwd_data_, bwd_w_;
  bool need_dx_;
};

}  // namespace eatsim::trainer
