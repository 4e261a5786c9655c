// Sponge estimator output writers: see report.hpp.
#include "sim/estimator/report.hpp"

#include <fmt/format.h>

#include <map>

namespace eatsim::sponge {

double layer_energy_worst_pj(const LayerCount& l) {
  return kPjPerElement * static_cast<double>(l.param_total + l.in_total + l.out_total) +
         kPjPerOp * static_cast<double>(l.ops);
}

double layer_energy_opt_pj(const LayerCount& l, double f) {
  return kPjPerElement * static_cast<double>(l.param_nnz + l.in_nnz + l.out_nnz) +
         kPjPerOp * static_cast<double>(l.ops) * f;
}

namespace {

std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string jnum(double v) { return fmt::format("{:.17g}", v); }

std::string jshape(const Shape& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

void write_estimate(std::ostream& o, const Estimate& e, const std::string& pad, bool layers) {
  const Totals& t = e.totals;
  o << "{\n" << pad << "  \"first\": " << e.first << ",\n" << pad << "  \"batch\": " << e.samples << ",\n";
  o << pad << "  \"totals\": {"
    << fmt::format(
           "\"param_total\": {}, \"param_nnz\": {}, \"in_total\": {}, \"in_nnz\": {}, \"out_total\": {}, "
           "\"out_nnz\": {}, \"ops\": {}",
           t.param_total, t.param_nnz, t.in_total, t.in_nnz, t.out_total, t.out_nnz, t.ops)
    << "},\n";
  o << pad << "  \"energy_worst_pj\": " << jnum(e.energy_worst_pj) << ",\n";
  o << pad << "  \"energy_opt_pj\": " << jnum(e.energy_opt_pj) << ",\n";
  o << pad << "  \"ratio\": " << jnum(e.ratio) << ",\n";
  o << pad << "  \"compute_fraction\": " << jnum(e.f()) << ",\n";
  o << pad << "  \"weight_density\": " << jnum(e.weight_density) << ",\n";
  o << pad << "  \"input_act_density\": " << jnum(e.input_density);
  if (layers) {
    o << ",\n" << pad << "  \"leaves\": [";
    std::map<std::string, int> calls;
    std::string unsupported;
    for (size_t i = 0; i < e.layers.size(); ++i) {
      const LayerCount& l = e.layers[i];
      o << (i ? "," : "") << "\n" << pad << "    {";
      o << fmt::format(
          "\"name\": {}, \"type\": {}, \"call\": {}, \"in_shapes\": [{}], \"out_shapes\": [{}], "
          "\"in_total\": {}, "
          "\"in_nnz\": {}, \"out_total\": {}, \"out_nnz\": {}, \"param_total\": {}, \"param_nnz\": {}, "
          "\"surcharge_total\": {}, \"surcharge_nnz\": {}, \"ops\": {}, \"op_rule\": {}, "
          "\"energy_worst_pj\": {}, "
          "\"energy_opt_pj\": {}",
          jstr(l.name), jstr(l.type), calls[l.name]++, jshape(l.in_shape), jshape(l.out_shape), l.in_total,
          l.in_nnz, l.out_total, l.out_nnz, l.param_total, l.param_nnz, l.surcharge, l.surcharge_nnz, l.ops,
          jstr(l.rule), jnum(layer_energy_worst_pj(l)), jnum(layer_energy_opt_pj(l, e.f())));
      o << "}";
      if (!l.supported) unsupported += (unsupported.empty() ? "" : ", ") + jstr(l.name);
    }
    o << "\n" << pad << "  ],\n" << pad << "  \"unsupported_leaves\": [" << unsupported << "]";
  }
  o << "\n" << pad << "}";
}

}  // namespace

void write_json(std::ostream& o, const Report& r, const std::string& trace, const std::string& model) {
  o << "{\n  \"trace\": " << jstr(trace) << ",\n  \"arch\": " << jstr(model)
    << ",\n  \"convention\": " << jstr(convention_name(r.options.convention))
    << ",\n  \"reduction\": " << jstr(reduction_name(r.options.reduction)) << ",\n  \"bits\": " << r.bits
    << ",\n  \"n_inputs\": " << r.whole.samples << ",\n  \"ratio\": " << jnum(r.ratio)
    << ",\n  \"energy_worst_pj_mean\": " << jnum(r.energy_worst_mean_pj)
    << ",\n  \"energy_opt_pj_mean\": " << jnum(r.energy_opt_mean_pj) << ",\n  \"whole\": ";
  write_estimate(o, r.whole, "  ", true);
  if (!r.chunks.empty()) {
    o << ",\n  \"chunked\": {\n    \"chunk\": "
      << (r.options.reduction == Reduction::per_sample ? 1 : r.options.batch)
      << ",\n    \"n_chunks\": " << r.chunks.size() << ",\n    \"ratio_mean\": " << jnum(r.ratio)
      << ",\n    \"ratio_std\": " << jnum(r.ratio_std)
      << ",\n    \"energy_opt_pj_mean\": " << jnum(r.energy_opt_mean_pj)
      << ",\n    \"energy_worst_pj_mean\": " << jnum(r.energy_worst_mean_pj) << ",\n    \"per_chunk\": [";
    for (size_t i = 0; i < r.chunks.size(); ++i) {
      o << (i ? ", " : "");
      write_estimate(o, r.chunks[i], "    ", false);
    }
    o << "]\n  }";
  }
  o << "\n}\n";
}

void write_layer_csv(std::ostream& o, const Report& r) {
  o << "layer,type,op_rule,in_shape,out_shape,in_total,in_nnz,out_total,out_nnz,param_total,param_nnz,"
       "surcharge,"
       "ops,energy_worst_pj,energy_opt_pj\n";
  const Estimate& e = r.whole;
  for (const auto& l : e.layers)
    o << fmt::format("{},{},{},\"{}\",\"{}\",{},{},{},{},{},{},{},{},{:.17g},{:.17g}\n", l.name, l.type,
                     l.rule, shape_str(l.in_shape), shape_str(l.out_shape), l.in_total, l.in_nnz, l.out_total,
                     l.out_nnz, l.param_total, l.param_nnz, l.surcharge, l.ops, layer_energy_worst_pj(l),
                     layer_energy_opt_pj(l, e.f()));
  const Totals& t = e.totals;
  o << fmt::format("total,,,,,{},{},{},{},{},{},,{},{:.17g},{:.17g}\n", t.in_total, t.in_nnz, t.out_total,
                   t.out_nnz, t.param_total, t.param_nnz, t.ops, e.energy_worst_pj, e.energy_opt_pj);
}

void write_firing_csv(std::ostream& o, const Firing& a, const Firing* b) {
  std::map<std::string, const FiringCount*> bmap, btype;
  if (b) {
    for (const auto& r : b->rows) bmap[r.name] = &r.count;
    for (const auto& [t, c] : b->by_type) btype[t] = &c;
  }
  o << (b ? "kind,layer,op,numel,nnz_a,firing_a,nnz_b,firing_b,b_over_a\n"
          : "kind,layer,op,numel,nnz,firing\n");
  auto row = [&](const char* kind, const std::string& name, const std::string& op, const FiringCount& x,
                 const FiringCount* y) {
    o << fmt::format("{},{},{},{},{},{:.6f}", kind, name, op, x.numel, x.nnz, x.firing());
    if (b) {
      if (y)
        o << fmt::format(",{},{:.6f},{}", y->nnz, y->firing(),
                         x.nnz ? fmt::format("{:.6f}", y->firing() / x.firing()) : "");
      else
        o << ",,,";
    }
    o << "\n";
  };
  for (const auto& r : a.rows) row("layer", r.name, op_name(r.op), r.count, b ? bmap[r.name] : nullptr);
  for (const auto& [t, c] : a.by_type) row("type", "", t, c, b ? btype[t] : nullptr);
  row("total", "", "", a.total, b ? &b->total : nullptr);
}

}  // namespace eatsim::sponge
