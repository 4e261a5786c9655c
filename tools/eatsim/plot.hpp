// Plots through gnuplot: each plot is a gnuplot script with inline data, rendered to PNG and SVG
// (PREFIX.png, PREFIX.svg; the script is kept as PREFIX.gp so users can restyle it).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace eatsim::plot {

// A simple CSV table: header + rows of strings (quotes handled).
struct Csv {
  std::string file;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int col(const std::string& name) const;  // throws UsageError naming the file and the columns it has
  double num(size_t row, int col) const;   // throws DataError on a non-number
};
Csv read_csv(const std::string& path);

// Renders `body` (gnuplot commands after the terminal/output lines) with named inline data blocks.
// Writes PREFIX.gp, PREFIX.png, PREFIX.svg. Throws UsageError when gnuplot is missing or fails.
void render(const std::string& prefix, const std::map<std::string, std::string>& data,
            const std::string& body, int width = 1000, int height = 600);

std::string quote(const std::string& s);            // a gnuplot string literal
std::string axis_label(const std::string& column);  // a column name with its unit, for axes
bool gnuplot_available();

// Fixed colours, so a thing has one colour in every figure: an energy component by its name (the
// report's energy_<name>_pj columns; 13 known ones, others from a spare list), and the runs or
// series of a figure by position (first = standard, second = EAT in the demo).
std::string component_color(const std::string& name);
std::string series_color(size_t i);

}  // namespace eatsim::plot

namespace eatsim::plot {
// The figures, shared by `eatsim plot ...` and `eatsim demo`. Each writes PREFIX.{png,svg,gp}.
// Per-layer firing from `eatsim firing A [B] --csv` output (labels name series a and b).
void firing_bars(const std::string& firing_csv, const std::string& label_a, const std::string& label_b,
                 const std::string& prefix);
// Per-layer energy stacked by component from `eatsim sim --out` CSVs, one panel per report.
void energy_breakdown(const std::vector<std::string>& report_csvs, const std::vector<std::string>& labels,
                      const std::string& prefix);
// Test accuracy vs the estimator's energy ratio, one point per run (last epoch of metrics.csv),
// labelled with the run's λ and σ (the paper's Figure 3). The ratio is metrics.csv's (the
// estimator on --ratio-samples test images) unless `ratios` gives one per run, described by
// `ratio_source` on the axis.
void accuracy_vs_ratio(const std::vector<std::string>& run_dirs, const std::string& prefix,
                       const std::vector<double>& ratios = {}, const std::string& ratio_source = "");
// Per-epoch test accuracy and ReLU firing of several runs.
void training_curves(const std::vector<std::string>& run_dirs, const std::vector<std::string>& labels,
                     const std::string& prefix);
}  // namespace eatsim::plot
