// eatsim trace info: the manifest summary and per-tensor shape, dtype, density, min and max.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/trace.hpp"

namespace eatsim::cli {
namespace {

struct Stats {
  int64_t n = 0, nnz = 0;
  double mn = INFINITY, mx = -INFINITY;
};

Stats stats_of(const TraceReader& r, const TensorEntry& e) {
  Stats s;
  NpyReader rd(r.path_of(e));
  std::vector<float> buf(1 << 16);
  double scale = e.scale != 0 ? e.scale : 1.0;
  while (rd.remaining() > 0) {
    int64_t k = std::min<int64_t>(rd.remaining(), static_cast<int64_t>(buf.size()));
    rd.read_f32(buf.data(), k);
    for (int64_t i = 0; i < k; ++i) {
      double v = buf[i] * scale;
      s.nnz += v != 0;
      s.mn = std::min(s.mn, v), s.mx = std::max(s.mx, v);
    }
    s.n += k;
  }
  return s;
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("trace", po::value<std::string>()->required(), "trace directory")(
      "csv", po::value<std::string>(), "also write the per-tensor table to this CSV file")(
      "params", po::bool_switch(), "include parameter tensors in the table");
  po::positional_options_description pos;
  pos.add("trace", 1);
  po::variables_map vm;
  if (!parse("trace info", "DIR [--csv FILE] [--params]", args, opts, pos, vm)) return 0;
  TraceReader r(vm["trace"].as<std::string>());
  const Manifest& m = r.manifest();
  const Graph& g = m.graph;
  std::string head;
  head += fmt::format("trace {} (format v{}, by {})\n", r.dir(), m.version, m.producer);
  head += fmt::format("model {}: width {}, input {}, {} classes, {} nodes\n", g.name, g.params.width,
                      shape_str(g.input_shape), g.params.classes, g.nodes.size());
  int correct = 0, labelled = 0;  // a label of -1 is unknown (traces of a user's own inputs)
  for (size_t i = 0; i < m.predictions.size(); ++i)
    if (m.labels[i] >= 0) ++labelled, correct += m.predictions[i] == m.labels[i];
  head += fmt::format("samples: {} from {} ({})", m.num_samples(), m.meta.dataset, m.meta.split);
  if (!m.predictions.empty())
    head += labelled ? fmt::format(", {} of {} labelled ones predicted correctly", correct, labelled)
                     : std::string(", no labels");
  head += "\n";
  head += fmt::format("training: lambda {}, sigma {}, accuracy {}{}\n", m.meta.lambda, m.meta.sigma,
                      m.meta.accuracy < 0 ? "unknown" : fmt::format("{:.4f}", m.meta.accuracy),
                      m.meta.checkpoint.empty() ? "" : ", checkpoint " + m.meta.checkpoint);
  for (const auto& [k, v] : m.meta.extra) head += fmt::format("  {}: {}\n", k, v);
  // Every figure first, then the CSV file, then the table: a reader that closes stdout early
  // (`| head`) must not cost the file.
  const bool want_csv = vm.count("csv") > 0, show_params = vm["params"].as<bool>();
  std::string csv = "name,kind,op,dtype,shape,numel,nnz,density,min,max,scale\n";
  std::string table = fmt::format("\n{:<28} {:<10} {:<14} {:<8} {:<20} {:>9} {:>11} {:>11}\n", "tensor",
                                  "kind", "op", "dtype", "shape", "density", "min", "max");
  int64_t bytes = 0;
  for (const auto& e : m.tensors) {
    NpyInfo info = npy_read_info(r.path_of(e));
    bytes += static_cast<int64_t>(info.data_offset + info.nbytes);
    if (e.kind == TensorKind::param && !show_params && !want_csv) continue;
    Stats s = stats_of(r, e);
    int ni = g.find(e.name);
    std::string op = e.kind == TensorKind::activation && ni >= 0 ? op_name(g.nodes[ni].op) : "-";
    double dens = s.n ? static_cast<double>(s.nnz) / s.n : 0;
    if (e.kind != TensorKind::param || show_params)
      table += fmt::format("{:<28} {:<10} {:<14} {:<8} {:<20} {:>8.2f}% {:>11.4g} {:>11.4g}\n", e.name,
                           tensor_kind_name(e.kind), op, dtype_name(e.dtype), shape_str(e.shape), 100 * dens,
                           s.n ? s.mn : 0, s.n ? s.mx : 0);
    csv += fmt::format("{},{},{},{},\"{}\",{},{},{:.6f},{:.6g},{:.6g},{:.9g}\n", e.name,
                       tensor_kind_name(e.kind), op, dtype_name(e.dtype), shape_str(e.shape), s.n, s.nnz,
                       dens, s.n ? s.mn : 0, s.n ? s.mx : 0, e.scale);
  }
  if (want_csv) atomic_write(vm["csv"].as<std::string>(), csv);
  std::cout << head << table;
  std::cout << fmt::format("\n{} tensors, {:.2f} MB on disk ({:.2f} MB per sample)\n", m.tensors.size(),
                           bytes / 1e6, bytes / 1e6 / m.num_samples());
  return 0;
}

Register reg("trace info", "summarise a trace: manifest, and per tensor shape, dtype, density, min, max",
             run);

}  // namespace
}  // namespace eatsim::cli
