// eatsim plot pareto: energy vs cycles from a sweep's results.csv, one colour per trace, with each
// trace's Pareto front drawn; energy vs accuracy too when the traces carry accuracy.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "base/errors.hpp"
#include "sim/sweep/sweep.hpp"
#include "tools/eatsim/command.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::cli {
namespace {

// The columns to plot, by index, with the axis names.
struct Axes {
  int x, y, group;
  std::string xs, ys;
};

// Energy vs cycles: one colour per group (in order of first appearance), each with its Pareto front.
void plot_design_space(const plot::Csv& c, const Axes& a, bool log, const std::string& prefix) {
  std::map<std::string, std::vector<size_t>> groups;
  std::vector<std::string> order;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    if (!groups.count(c.rows[r][a.group])) order.push_back(c.rows[r][a.group]);
    groups[c.rows[r][a.group]].push_back(r);
  }
  std::map<std::string, std::string> data;
  std::string plots;
  int k = 0;
  for (const auto& g : order) {
    std::string pts, front;
    std::vector<std::vector<double>> m;
    for (size_t r : groups[g]) {
      pts += fmt::format("{} {}\n", c.num(r, a.x), c.num(r, a.y));
      m.push_back({c.num(r, a.x), c.num(r, a.y)});
    }
    auto f = sweep::pareto_front(m);
    std::sort(f.begin(), f.end(), [&](size_t i, size_t j) { return m[i][0] < m[j][0]; });
    for (size_t i : f) front += fmt::format("{} {}\n", m[i][0], m[i][1]);
    data[fmt::format("p{}", k)] = pts;
    data[fmt::format("f{}", k)] = front;
    plots += fmt::format(
        "{}$p{} using 1:2 with points pt 7 ps 0.6 lc {} title {}, $f{} using 1:2 with linespoints lw 2 "
        "pt 6 lc {} title {}",
        plots.empty() ? "" : ", ", k, k + 1, plot::quote(g + " (all points)"), k, k + 1,
        plot::quote(g + " (Pareto front)"));
    ++k;
  }
  std::string body =
      fmt::format("set title {}\nset xlabel {}\nset ylabel {}\nset grid\nset key outside right\n{}plot {}\n",
                  plot::quote("Design space: " + a.ys + " vs " + a.xs), plot::quote(plot::axis_label(a.xs)),
                  plot::quote(plot::axis_label(a.ys)), log ? "set logscale xy\n" : "", plots);
  plot::render(prefix, data, body);
  std::cout << fmt::format("wrote {}.png and {}.svg ({} series, {} points)\n", prefix, prefix, order.size(),
                           c.rows.size());
}

// Energy vs accuracy, when the traces carry it.
void plot_vs_accuracy(const plot::Csv& c, const Axes& a, const std::string& prefix) {
  int ai = -1;
  for (size_t i = 0; i < c.header.size(); ++i)
    if (c.header[i] == "trace_accuracy") ai = static_cast<int>(i);
  if (ai < 0) return;
  std::string pts, front;
  std::vector<std::vector<double>> m;  // (−accuracy, y): the front maximises accuracy, minimises y
  for (size_t r = 0; r < c.rows.size(); ++r)
    if (c.num(r, ai) >= 0) {
      pts += fmt::format("{} {} {}\n", 100 * c.num(r, ai), c.num(r, a.y), plot::quote(c.rows[r][a.group]));
      m.push_back({-c.num(r, ai), c.num(r, a.y)});
    }
  if (pts.empty()) return;
  auto f = sweep::pareto_front(m);
  std::sort(f.begin(), f.end(), [&](size_t i, size_t j) { return m[i][0] > m[j][0]; });
  for (size_t i : f) front += fmt::format("{} {}\n", -100 * m[i][0], m[i][1]);
  std::string b = fmt::format(
      "set title {}\nset xlabel 'test accuracy (%)'\nset ylabel {}\nset grid\nset key outside right\n"
      "plot $a using 1:2 with points pt 7 lc 1 title {}, $f using 1:2 with linespoints lw 2 pt 6 lc 2 title "
      "{}\n",
      plot::quote(a.ys + " vs accuracy"), plot::quote(plot::axis_label(a.ys)),
      plot::quote("design points × networks"), plot::quote("co-design Pareto front"));
  plot::render(prefix + "-accuracy", {{"a", pts}, {"f", front}}, b);
  std::cout << fmt::format("wrote {}-accuracy.png and .svg\n", prefix);
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("csv", po::value<std::string>()->required(), "a sweep's results.csv")(
      "out,o", po::value<std::string>()->required(), "output prefix (PREFIX.png, PREFIX.svg)")(
      "x", po::value<std::string>()->default_value("cycles"), "column for the x axis")(
      "y", po::value<std::string>()->default_value("energy_uj"), "column for the y axis")(
      "group", po::value<std::string>()->default_value("trace"), "column that separates the series")(
      "log", po::bool_switch(), "logarithmic axes");
  po::positional_options_description pos;
  pos.add("csv", 1);
  po::variables_map vm;
  if (!parse("plot pareto", "RESULTS.csv --out PREFIX [--x COL --y COL]", args, opts, pos, vm)) return 0;
  plot::Csv c = plot::read_csv(vm["csv"].as<std::string>());
  Axes a;
  a.xs = vm["x"].as<std::string>(), a.ys = vm["y"].as<std::string>();
  a.x = c.col(a.xs), a.y = c.col(a.ys), a.group = c.col(vm["group"].as<std::string>());
  if (c.rows.empty()) throw DataError(c.file + ": no rows to plot");
  std::string prefix = vm["out"].as<std::string>();
  plot_design_space(c, a, vm["log"].as<bool>(), prefix);
  plot_vs_accuracy(c, a, prefix);
  return 0;
}

Register reg("plot pareto", "plot energy vs cycles (and vs accuracy) from a sweep's results.csv", run);

}  // namespace
}  // namespace eatsim::cli
