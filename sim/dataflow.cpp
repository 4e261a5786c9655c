// Dataflow factory and the helpers the implementations share.
#include "sim/dataflow.hpp"

#include <fmt/format.h>

#include "base/errors.hpp"

namespace eatsim::sim {
namespace detail {

int64_t share(int64_t total, int64_t start, int64_t len, int64_t denom) {
  if (total == 0 || denom == 0) return 0;
  using i128 = __int128;
  i128 a = i128(total) * start / denom, b = i128(total) * (start + len) / denom;
  return static_cast<int64_t>(b - a);
}

int64_t max_share(int64_t total, int64_t len, int64_t denom) {
  if (total == 0 || denom == 0) return 0;
  using i128 = __int128;
  return static_cast<int64_t>((i128(total) * len + denom - 1) / denom);
}

void add_fill_drain(const HwConfig& hw, FoldWork& w) {
  for (int b = 0; b < kNumBufs; ++b) w.sram_wr[b] += words(w.dram_rd[b], 8, hw.buf[b].word_bits);
  w.sram_rd[kPsum] += words(w.dram_wr, 8, hw.buf[kPsum].word_bits);
}

void add_accumulating_events(const HwConfig& hw, int bits, FoldWork& w) {
  const int64_t T = w.stream, rows = w.rows_used, cols = w.cols_used;
  w.mac_slots = rows * cols * T;
  w.reg_read = 2 * w.mac_slots;
  w.reg_write = w.mac_slots + rows * cols;
  w.psum_add = w.first_k ? 0 : T * cols;
  w.sram_rd[kPsum] = w.first_k ? 0 : T * words(cols, kPsumBits, hw.buf[kPsum].word_bits);
  w.sram_wr[kPsum] = T * words(cols, w.last_k ? bits : kPsumBits, hw.buf[kPsum].word_bits);
}

void add_output_tile(const LayerIo& io, const GemmShape& g, int64_t at, int64_t len, FoldWork& w) {
  w.dram_rd[kPsum] = share(io.residual_bytes, at, len, g.M * g.N);
  w.dram_wr = share(io.out_bytes, at, len, g.M * g.N);
}

void too_small(const HwConfig& hw, const GemmShape& g, int buf, int64_t need, const std::string& what) {
  throw ConfigError(fmt::format(
      "{}: buffers.{}.size_kb: {} KB{} holds {} bytes, but layer {} needs {} bytes for one tile ({}); "
      "enlarge the buffer or shrink the array",
      hw.file, buffer_name(buf), hw.buf[buf].size_kb,
      hw.buf[buf].double_buffered ? " (double-buffered: half usable)" : "", hw.buf[buf].usable_bytes(),
      g.name, need, what));
}

}  // namespace detail

std::unique_ptr<DataflowPlan> make_plan(const HwConfig& hw, const GemmShape& g, const LayerIo& io,
                                        const std::vector<std::vector<int32_t>>* is_rows) {
  switch (hw.array.dataflow) {
    case Dataflow::ws:
      return detail::make_ws(hw, g, io);
    case Dataflow::os:
      return detail::make_os(hw, g, io);
    case Dataflow::is:
      return detail::make_is(hw, g, io, is_rows);
  }
  throw ConfigError("unknown dataflow");
}

}  // namespace eatsim::sim
