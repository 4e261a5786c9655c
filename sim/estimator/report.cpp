// Sponge estimator output writers: see report.hpp.
#include "sim/estimator/report.hpp"

#include <fmt/format.h>

#include <map>

#include "base/json.hpp"

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

Json estimate_json(const Estimate& e, bool layers) {
  const Totals& t = e.totals;
  Json j{{"first", e.first}, {"batch", e.samples}};
  j["totals"] = Json{{"param_total", t.param_total},
                     {"param_nnz", t.param_nnz},
                     {"in_total", t.in_total},
                     {"in_nnz", t.in_nnz},
                     {"out_total", t.out_total},
                     {"out_nnz", t.out_nnz},
                     {"ops", t.ops}};
  j["energy_worst_pj"] = e.energy_worst_pj;
  j["energy_opt_pj"] = e.energy_opt_pj;
  j["ratio"] = e.ratio;
  j["compute_fraction"] = e.f();
  j["weight_density"] = e.weight_density;
  j["input_act_density"] = e.input_density;
  if (!layers) return j;
  Json& leaves = j["leaves"] = Json::array();
  Json unsupported = Json::array();
  std::map<std::string, int> calls;
  for (const LayerCount& l : e.layers) {
    leaves.push_back(Json{{"name", l.name},
                          {"type", l.type},
                          {"call", calls[l.name]++},
                          {"in_shapes", Json::array({Json(l.in_shape)})},
                          {"out_shapes", Json::array({Json(l.out_shape)})},
                          {"in_total", l.in_total},
                          {"in_nnz", l.in_nnz},
                          {"out_total", l.out_total},
                          {"out_nnz", l.out_nnz},
                          {"param_total", l.param_total},
                          {"param_nnz", l.param_nnz},
                          {"surcharge_total", l.surcharge},
                          {"surcharge_nnz", l.surcharge_nnz},
                          {"ops", l.ops},
                          {"op_rule", l.rule},
                          {"energy_worst_pj", layer_energy_worst_pj(l)},
                          {"energy_opt_pj", layer_energy_opt_pj(l, e.f())}});
    if (!l.supported) unsupported.push_back(l.name);
  }
  j["unsupported_leaves"] = unsupported;
  return j;
}

}  // namespace

void write_json(std::ostream& o, const Report& r, const std::string& trace, const std::string& model) {
  Json j{{"trace", trace},
         {"arch", model},
         {"convention", convention_name(r.options.convention)},
         {"reduction", reduction_name(r.options.reduction)},
         {"bits", r.bits},
         {"n_inputs", r.whole.samples},
         {"ratio", r.ratio},
         {"energy_worst_pj_mean", r.energy_worst_mean_pj},
         {"energy_opt_pj_mean", r.energy_opt_mean_pj}};
  j["whole"] = estimate_json(r.whole, true);
  if (!r.chunks.empty()) {
    Json per_chunk = Json::array();
    for (const Estimate& c : r.chunks) per_chunk.push_back(estimate_json(c, false));
    j["chunked"] = Json{{"chunk", r.options.reduction == Reduction::per_sample ? 1 : r.options.batch},
                        {"n_chunks", r.chunks.size()},
                        {"ratio_mean", r.ratio},
                        {"ratio_std", r.ratio_std},
                        {"energy_opt_pj_mean", r.energy_opt_mean_pj},
                        {"energy_worst_pj_mean", r.energy_worst_mean_pj},
                        {"per_chunk", per_chunk}};
  }
  o << ::eatsim::write_json(j);
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
