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
  std::string xs = vm["x"].as<std::string>(), ys = vm["y"].as<std::string>();
  int xi = c.col(xs), yi = c.col(ys), gi = c.col(vm["group"].as<std::string>());
  if (c.rows.empty()) throw DataError(c.file + ": no rows to plot");
  std::map<std::string, std::vector<size_t>> groups;
  std::vector<std::string> order;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    if (!groups.count(c.rows[r][gi])) order.push_back(c.rows[r][gi]);
    groups[c.rows[r][gi]].push_back(r);
  }
  std::map<std::string, std::string> data;
  std::string plots;
  int k = 0;
  for (const auto& g : order) {
    std::string pts, front;
    std::vector<std::vector<double>> m;
    for (size_t r : groups[g]) {
      pts += fmt::format("{} {}\n", c.num(r, xi), c.num(r, yi));
      m.push_back({c.num(r, xi), c.num(r, yi)});
    }
    auto f = sweep::pareto_front(m);
    std::sort(f.begin(), f.end(), [&](size_t a, size_t b) { return m[a][0] < m[b][0]; });
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
                  plot::quote("Design space: " + ys + " vs " + xs), plot::quote(plot::axis_label(xs)),
                  plot::quote(plot::axis_label(ys)), vm["log"].as<bool>() ? "set logscale xy\n" : "", plots);
  std::string prefix = vm["out"].as<std::string>();
  plot::render(prefix, data, body);
  std::cout << fmt::format("wrote {}.png and {}.svg ({} series, {} points)\n", prefix, prefix, order.size(),
                           c.rows.size());
  // Energy vs accuracy when the traces carry it.
  int ai = -1;
  for (size_t i = 0; i < c.header.size(); ++i)
    if (c.header[i] == "trace_accuracy") ai = static_cast<int>(i);
  if (ai >= 0) {
    std::string pts;
    for (size_t r = 0; r < c.rows.size(); ++r)
      if (c.num(r, ai) >= 0)
        pts += fmt::format("{} {} {}\n", 100 * c.num(r, ai), c.num(r, yi), plot::quote(c.rows[r][gi]));
    if (!pts.empty()) {
      std::string b = fmt::format(
          "set title {}\nset xlabel 'test accuracy (%)'\nset ylabel {}\nset grid\n"
          "plot $a using 1:2 with points pt 7 lc 1 title {}\n",
          plot::quote(ys + " vs accuracy"), plot::quote(plot::axis_label(ys)),
          plot::quote("design points × traces"));
      plot::render(prefix + "-accuracy", {{"a", pts}}, b);
      std::cout << fmt::format("wrote {}-accuracy.png and .svg\n", prefix);
    }
  }
  return 0;
}

Register reg("plot pareto", "plot energy vs cycles (and vs accuracy) from a sweep's results.csv", run);

}  // namespace
}  // namespace eatsim::cli
