// The project's figures (firing bars, energy breakdown, accuracy vs energy ratio, training curves).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::plot {
namespace fs = std::filesystem;

void firing_bars(const std::string& csv_path, const std::string& la, const std::string& lb,
                 const std::string& prefix) {
  Csv c = read_csv(csv_path);
  int kind = c.col("kind"), layer = c.col("layer");
  bool two = std::find(c.header.begin(), c.header.end(), "firing_b") != c.header.end();
  int fa = two ? c.col("firing_a") : c.col("firing"), fb = two ? c.col("firing_b") : -1;
  std::string rows;
  int n = 0;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    if (c.rows[r][kind] != "layer") continue;
    rows += fmt::format("{} {} {}\n", quote(c.rows[r][layer]), 100 * c.num(r, fa),
                        fb >= 0 && !c.rows[r][fb].empty() ? 100 * c.num(r, fb) : 0.0);
    ++n;
  }
  if (!n) throw DataError(csv_path + ": no layer rows to plot");
  std::string body = fmt::format(
      "set title 'Firing neurons per layer (non-zero outputs)'\nset ylabel 'firing (% of outputs non-zero)'\n"
      "set yrange [0:105]\nset style data histograms\nset style histogram clustered gap 1\n"
      "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset xtics rotate by -60 font ',8'\nset grid "
      "ytics\n"
      "set key outside top center horizontal\nset bmargin 7\nset offsets 0, 0, 0, 0\nplot $d using 2:xtic(1) "
      "title {} lc rgb '{}'{}\n",
      quote(la), series_color(0),
      two ? fmt::format(", '' using 3 title {} lc rgb '{}'", quote(lb), series_color(1)) : "");
  render(prefix, {{"d", rows}}, body, std::max(1000, 22 * n + 200), 600);
}

void energy_breakdown(const std::vector<std::string>& csvs, const std::vector<std::string>& labels,
                      const std::string& prefix) {
  if (csvs.empty()) throw UsageError("plot breakdown: give at least one report CSV");
  std::map<std::string, std::string> data;
  std::string body = fmt::format("set multiplot layout {},1\n", csvs.size());
  double ymax = 0;
  std::vector<std::string> comps;
  std::vector<std::vector<std::string>> blocks;
  for (size_t i = 0; i < csvs.size(); ++i) {
    Csv c = read_csv(csvs[i]);
    int li = c.col("layer");
    std::vector<int> ci;
    std::vector<std::string> names;
    for (size_t k = 0; k < c.header.size(); ++k) {
      const std::string& h = c.header[k];
      if (h.rfind("energy_", 0) == 0 && h.size() > 10 && h.substr(h.size() - 3) == "_pj" &&
          h != "energy_pj" && h.find("ratio") == std::string::npos)
        ci.push_back(static_cast<int>(k)), names.push_back(h.substr(7, h.size() - 10));
    }
    if (ci.empty())
      throw DataError(csvs[i] + ": no energy_<component>_pj columns (an eatsim sim --out CSV?)");
    if (comps.empty()) comps = names;
    std::string rows;
    for (size_t r = 0; r < c.rows.size(); ++r) {
      if (c.rows[r][li] == "total") continue;
      rows += quote(c.rows[r][li]);
      double sum = 0;
      for (int k : ci) {
        double v = c.num(r, k) / 1e6;  // µJ
        rows += fmt::format(" {}", v), sum += v;
      }
      rows += "\n";
      ymax = std::max(ymax, sum);
    }
    data[fmt::format("e{}", i)] = rows;
  }
  for (size_t i = 0; i < csvs.size(); ++i) {
    std::string cols;
    for (size_t k = 0; k < comps.size(); ++k)
      cols +=
          fmt::format("{}$e{} using {}{} title {} lc rgb '{}'", k ? ", " : "", i, k + 2,
                      k == 0 ? ":xtic(1)" : "", i == 0 ? quote(comps[k]) : "''", component_color(comps[k]));
    body += fmt::format(
        "set title {}\nset ylabel 'energy per sample (µJ)'\nset yrange [0:{}]\nset style data histograms\n"
        "set style histogram rowstacked\nset style fill solid 0.85 border -1\nset boxwidth 0.8\n"
        "set xtics rotate by -60 font ',8'\nset grid ytics\nset key outside right\nset rmargin at screen "
        "0.86\nset offsets 0, 0, 0, "
        "0\nplot {}\n",
        quote("Energy per layer by component: " + (i < labels.size() ? labels[i] : csvs[i])), ymax * 1.05,
        cols);
  }
  body += "unset multiplot\n";
  render(prefix, data, body, 1200, 420 * static_cast<int>(csvs.size()));
}

namespace {
struct RunSummary {
  std::string dir;
  double lambda = 0, sigma = 0;
  Csv metrics;
};
RunSummary read_run(const std::string& dir) {
  RunSummary r;
  r.dir = dir;
  r.metrics = read_csv(dir + "/metrics.csv");
  if (r.metrics.rows.empty()) throw DataError(dir + "/metrics.csv: no finished epoch yet");
  std::string meta = dir + "/checkpoint/checkpoint.yaml";
  YAML::Node y = yamlu::parse<DataError>(read_text<DataError>(meta), meta);
  try {
    r.lambda = std::stod(y["info"]["lambda"].as<std::string>());
    r.sigma = std::stod(y["info"]["sigma"].as<std::string>());
  } catch (const std::exception&) {
    throw DataError(meta + ": no lambda/sigma in info (not written by eatsim train?)");
  }
  return r;
}
}  // namespace

void accuracy_vs_ratio(const std::vector<std::string>& dirs, const std::string& prefix,
                       const std::vector<double>& ratios, const std::string& ratio_source) {
  if (dirs.empty()) throw UsageError("plot lambda: give run directories");
  if (!ratios.empty() && ratios.size() != dirs.size())
    throw UsageError("plot lambda: give one energy ratio per run");
  std::map<double, std::string> by_sigma;  // one series per σ, points along λ
  for (size_t i = 0; i < dirs.size(); ++i) {
    const std::string& d = dirs[i];
    RunSummary r = read_run(d);
    size_t last = r.metrics.rows.size() - 1;
    double ratio = ratios.empty() ? r.metrics.num(last, r.metrics.col("sponge_ratio")) : ratios[i];
    double acc = r.metrics.num(last, r.metrics.col("test_acc"));
    if (ratio < 0) throw DataError(d + "/metrics.csv: no estimator ratio (trained with --ratio-samples 0?)");
    by_sigma[r.lambda > 0 ? r.sigma : 0.0] += fmt::format(
        "{} {} {}\n", ratio, 100 * acc, quote(r.lambda > 0 ? fmt::format("λ={:g}", r.lambda) : "ST"));
  }
  std::map<std::string, std::string> data;
  std::string plots;
  int k = 0;
  for (const auto& [sigma, rows] : by_sigma) {
    data[fmt::format("s{}", k)] = rows;
    std::string title = sigma == 0 ? "standard training" : fmt::format("EAT, σ = {:g}", sigma);
    plots += fmt::format(
        "{}$s{} using 1:2 with points pt 7 ps 1.3 lc rgb '{}' title {}, $s{} using 1:2:3 with labels "
        "offset 0.8,0.8 font ',8' notitle",
        k ? ", " : "", k, series_color(k), quote(title), k);
    ++k;
  }
  std::string source = ratio_source.empty()
                           ? "the estimator on --ratio-samples test images, last epoch of metrics.csv"
                           : ratio_source;
  std::string body = fmt::format(
      "set title 'Accuracy vs energy ratio over λ and σ (the paper, Figure 3)'\n"
      "set xlabel {}\nset ylabel 'test accuracy (%)'\nset grid\nset key bottom right\nplot {}\n",
      quote("energy ratio, optimised / worst case (" + source + ")"), plots);
  render(prefix, data, body);
}

void training_curves(const std::vector<std::string>& dirs, const std::vector<std::string>& labels,
                     const std::string& prefix) {
  std::map<std::string, std::string> data;
  std::string acc, fire;
  for (size_t i = 0; i < dirs.size(); ++i) {
    RunSummary r = read_run(dirs[i]);
    std::string rows;
    int e = r.metrics.col("epoch"), a = r.metrics.col("test_acc"), f = r.metrics.col("firing_relu");
    for (size_t k = 0; k < r.metrics.rows.size(); ++k)
      rows += fmt::format("{} {} {}\n", r.metrics.num(k, e), 100 * r.metrics.num(k, a),
                          100 * r.metrics.num(k, f));
    data[fmt::format("r{}", i)] = rows;
    std::string t = quote(i < labels.size() ? labels[i] : dirs[i]);
    for (auto [col, s] : {std::pair{2, &acc}, std::pair{3, &fire}})
      *s += fmt::format("{}$r{} using 1:{} with linespoints lw 2 pt 7 lc rgb '{}' title {}", i ? ", " : "", i,
                        col, series_color(i), t);
  }
  std::string body =
      "set multiplot layout 1,2\nset grid\nset xlabel 'epoch'\nset key bottom right\n"
      "set title 'Test accuracy'\nset ylabel 'test accuracy (%)'\nplot " +
      acc +
      "\nset title 'ReLU firing (test set, eval mode)'\nset ylabel 'non-zero ReLU outputs (%)'\n"
      "set key top right\nplot " +
      fire + "\nunset multiplot\n";
  render(prefix, data, body, 1200, 500);
}

}  // namespace eatsim::plot
