// DRAM request traces; see dram_trace.hpp and docs/dram-trace.md.
#include "sim/dram_trace.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/network.hpp"

namespace eatsim::sim {
namespace fs = std::filesystem;

namespace {
thread_local DramObserver* g_observer = nullptr;
constexpr uint64_t kAlign = 4096;  // every tensor starts on its own 4 KiB page
}  // namespace

void set_dram_observer(DramObserver* o) { g_observer = o; }
DramObserver* dram_observer() { return g_observer; }

bool dram_trace_format_from_name(const std::string& s, DramTraceFormat& out) {
  if (s == "dramsim3") return out = DramTraceFormat::dramsim3, true;
  if (s == "ramulator2") return out = DramTraceFormat::ramulator2, true;
  return false;
}

// The output stream: gzip (zlib) or plain stdio, into a temporary file published by close().
struct DramTraceWriter::Impl {
  std::string path, tmp;
  bool gz = false;
  gzFile z = nullptr;
  std::FILE* f = nullptr;
  std::string buf;
  bool failed = false;
  struct Request {
    int64_t cycle;
    uint64_t addr;
    bool write;
  };
  std::vector<Request> row;  // the current row's requests, sorted by cycle when it ends

  void flush() {
    if (buf.empty() || failed) return buf.clear();
    if (gz)
      failed = gzwrite(z, buf.data(), static_cast<unsigned>(buf.size())) != static_cast<int>(buf.size());
    else
      failed = std::fwrite(buf.data(), 1, buf.size(), f) != buf.size();
    buf.clear();
  }
};

DramTraceWriter::DramTraceWriter(const std::string& path, DramTraceFormat f, const Graph& g,
                                 const HwConfig& hw)
    : p_(std::make_unique<Impl>()),
      format_(f),
      g_(g),
      elem_bytes_(hw.elem_bytes()),
      bytes_per_cycle_(std::max<int64_t>(1, hw.dram.bytes_per_cycle)) {
  const std::string why = replaceable(path);
  if (!why.empty()) throw FileError(path + ": " + why);
  p_->path = path;
  p_->tmp = temp_name_for(path);
  p_->gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (p_->gz)
    p_->z = gzopen(p_->tmp.c_str(), "wb6");
  else
    p_->f = std::fopen(p_->tmp.c_str(), "wb");
  if (!p_->z && !p_->f) throw FileError(fmt::format("{}: cannot write the DRAM trace here", path));
}

DramTraceWriter::~DramTraceWriter() {
  if (p_->z) gzclose(p_->z);
  if (p_->f) std::fclose(p_->f);
  if (!p_->tmp.empty()) {
    std::error_code ec;
    fs::remove(p_->tmp, ec);
  }
}

int DramTraceWriter::region_of(int64_t bytes, const std::string& name) {
  for (size_t i = 0; i < regions_.size(); ++i)
    if (regions_[i].name == name) return static_cast<int>(i);
  uint64_t base = 0;
  if (!regions_.empty()) {
    const Region& last = regions_.back();
    base =
        (last.base + static_cast<uint64_t>(std::max<int64_t>(last.bytes, 1)) + kAlign - 1) / kAlign * kAlign;
  }
  regions_.push_back({name, base, std::max<int64_t>(bytes, kRequestBytes)});
  cursor_.push_back(0);
  return static_cast<int>(regions_.size()) - 1;
}

void DramTraceWriter::begin_row(const LayerGroup& grp, int64_t start) {
  flush_row();
  row_start_ = start;
  auto act = [&](int node) {
    if (node < 0) return region_of(numel(g_.input_shape) * elem_bytes_, "input");
    const Node& n = g_.nodes[static_cast<size_t>(node)];
    return region_of(numel(n.out_shape) * elem_bytes_, "act:" + n.name);
  };
  const int first = grp.gemm >= 0 ? grp.gemm : (grp.ppu.empty() ? -1 : grp.ppu.front());
  row_region_[kIfmap] = first >= 0 && !g_.nodes[static_cast<size_t>(first)].in.empty()
                            ? act(g_.nodes[static_cast<size_t>(first)].in[0])
                            : act(-1);
  row_region_[kWeights] =
      grp.gemm >= 0 ? region_of(std::max<int64_t>(grp.weight_elems + grp.bn_params, 1) * elem_bytes_,
                                "weights:" + g_.nodes[static_cast<size_t>(grp.gemm)].name)
                    : -1;
  row_psum_regions_.clear();
  for (int r : grp.residual_nodes) row_psum_regions_.push_back(act(r));
  row_region_[kPsum] = row_psum_regions_.empty() ? -1 : row_psum_regions_.front();
  psum_at_ = 0;
  int last = grp.ppu.empty() ? grp.gemm : grp.ppu.back();
  row_region_[kNumBufs] = !grp.out_nodes.empty() ? act(grp.out_nodes.front()) : act(last);
}

void DramTraceWriter::emit(uint64_t addr, bool write, int64_t cycle) {
  p_->row.push_back({cycle, addr, write});
}

// A row's requests in cycle order (issue order among equal cycles), then the next row's.
void DramTraceWriter::flush_row() {
  auto& row = p_->row;
  std::stable_sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.cycle < b.cycle; });
  for (const auto& q : row) write_line(q.addr, q.write, q.cycle);
  row.clear();
}

void DramTraceWriter::write_line(uint64_t addr, bool write, int64_t cycle) {
  std::string& b = p_->buf;
  if (format_ == DramTraceFormat::dramsim3)
    b += fmt::format("0x{:x} {} {}\n", addr, write ? "WRITE" : "READ", cycle);
  else
    b += fmt::format("{} 0x{:x}\n", write ? "ST" : "LD", addr);
  if (b.size() > (1 << 20)) p_->flush();
}

void DramTraceWriter::transfer(int64_t now, int buf, int64_t bytes) {
  if (bytes <= 0) return;
  int r = row_region_[std::min(buf, static_cast<int>(kNumBufs))];
  if (r < 0) r = region_of(bytes, "scratch");
  const int64_t n = (bytes + kRequestBytes - 1) / kRequestBytes;
  const bool write = buf >= kNumBufs;
  auto span = [&](int reg) {
    return (regions_[static_cast<size_t>(reg)].bytes + kRequestBytes - 1) / kRequestBytes * kRequestBytes;
  };
  for (int64_t i = 0; i < n; ++i) {
    if (cursor_[static_cast<size_t>(r)] >=
        span(r)) {  // past its tensor: the next residual operand, or a refetch
      cursor_[static_cast<size_t>(r)] = 0;
      if (buf == kPsum && psum_at_ + 1 < row_psum_regions_.size()) {
        r = row_region_[kPsum] = row_psum_regions_[++psum_at_];
        if (cursor_[static_cast<size_t>(r)] >= span(r)) cursor_[static_cast<size_t>(r)] = 0;
      }
    }
    int64_t& cur = cursor_[static_cast<size_t>(r)];
    emit(regions_[static_cast<size_t>(r)].base + static_cast<uint64_t>(cur), write,
         row_start_ + now + i * kRequestBytes / bytes_per_cycle_);
    cur += kRequestBytes;
  }
  requests_ += n;
  bytes_ += bytes;
}

void DramTraceWriter::close() {
  flush_row();
  p_->flush();
  bool ok = !p_->failed;
  if (p_->gz) {
    ok = gzclose(p_->z) == Z_OK && ok;
    p_->z = nullptr;
  } else {
    ok = std::fflush(p_->f) == 0 && ok;
    fsync_path(p_->tmp);
    ok = std::fclose(p_->f) == 0 && ok;
    p_->f = nullptr;
  }
  if (!ok) throw FileError(fmt::format("{}: the DRAM trace could not be written (disk full?)", p_->path));
  std::error_code ec;
  fs::rename(p_->tmp, p_->path, ec);
  if (ec) throw FileError(fmt::format("{}: cannot publish the DRAM trace ({})", p_->path, ec.message()));
  p_->tmp.clear();
}

}  // namespace eatsim::sim
